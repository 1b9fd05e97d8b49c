/**
 * `vram-guard run [options] -- CMD ARGS…`: what a VS Code task gets, for a server started from a
 * terminal, a script or a systemd unit. The VRAM gate first (no room: the command never runs),
 * waiting for room with --wait; a reservation until the server's memory shows in NVML; then the
 * command, its output passed through untouched and watched for CUDA-error cascades, its exit
 * status and signals passed back.
 */
import { basename } from 'node:path';
import { DEFAULT_MARGIN_TEXT, DEFAULT_RESIDUAL_THRESHOLD_TEXT } from '../core/checks/preflight.ts';
import { formatDuration } from '../core/duration.ts';
import { errorMessage } from '../core/errors.ts';
import type { GpuSource } from '../core/gpu/types.ts';
import { DEFAULT_CASCADE_RULE } from '../core/servers/cascade-detector.ts';
import { CascadeWatch, cascadeText } from '../core/servers/cascade-watch.ts';
import { type ChildEnd, runChild } from '../core/servers/child-run.ts';
import { GpuLock, gpuLockPath } from '../core/servers/gpu-lock.ts';
import { RestartPolicy } from '../core/servers/restart-policy.ts';
import { removeRunRecord, type RunRecord, runsDir, writeRunRecord } from '../core/servers/run-records.ts';
import { resolveCommand } from '../core/command-path.ts';
import { treeBytesOnGpu } from '../core/servers/ledger.ts';
import { preflightGate, DEFAULT_RESERVE_MS } from '../core/checks/preflight-gate.ts';
import { LLAMA_FIT_CHECK_ID } from '../core/checks/llama-fit-check.ts';
import { readProcessTable } from '../core/servers/process-tree.ts';
import { recogniseCommand } from '../core/servers/recognition/command-kind.ts';
import { ReservationBook, reservationsPath } from '../core/servers/reservations.ts';
import { GateInputError, type GateInput, type GateResult } from '../core/servers/vram-gate.ts';
import { parseSize } from '../core/units.ts';
import type { GpuReading } from '../core/watch/watcher.ts';
import { stringFlag, UsageError } from './args.ts';
import { GPU_OPTIONS_HELP, gpuOptions } from './gpu-options.ts';
import type { CliIo } from './io.ts';
import { parsePlan } from './run-plan.ts';
import { GGUF_SERVER_EXECUTABLE, GGUF_SERVER_KIND } from '../core/servers/kinds/index.ts';

export const RUN_HELP = `vram-guard run [--need SIZE | --model FILE [--args "…"]] [--gpu N] [--wait DURATION] [--exclusive] [--restart on-failure] -- CMD ARGS…

Runs CMD only when the GPU has room for it, as a VS Code task would be: the VRAM gate first (no
room: CMD never runs, exit 1 with the reason); a reservation, so that other gates (tasks in any
window, another run) count its memory until NVML shows it; then CMD, its output passed through
untouched, its exit status passed back; Ctrl-C and SIGTERM reach CMD once.
CUDA error lines in its output are counted: at 5 a second for 3 s, run says "cascade" on stderr.
With llama-server's arguments after --, the need is estimated from them (-m, -c, -np, -ngl …),
and the llama-fit-params beside that llama-server is asked what llama.cpp would fit (a warning
when the two differ by more than the margin).

  --need SIZE                     what CMD needs, e.g. 6GiB
  --model FILE                    estimate the need from a GGUF file (llama-server's settings from --args)
  --args "ARGS"                   llama-server's arguments for --model (split without a shell)
  --gpu N                         the GPU it runs on (default 0)
  --wait DURATION                 no room: wait for it up to DURATION (90s, 5m, 1h) instead of failing
  --margin SIZE                   free VRAM to keep beyond the need (default ${DEFAULT_MARGIN_TEXT})
  --exclusive                     hold the GPU's lock while CMD runs (waits for the holder: another run --exclusive)
  --restart on-failure            restart CMD when it fails (backoff 1 s doubling to 5 min; the gate again first)
  --max-restarts N                at most N restarts an hour with --restart on-failure (default 10)
  --cascade-rate N                CUDA error lines a second that make a cascade (default ${DEFAULT_CASCADE_RULE.perSecond})
  --cascade-seconds N             for this many seconds in a row (default ${DEFAULT_CASCADE_RULE.seconds})
${GPU_OPTIONS_HELP}

Exit codes: CMD's own; 128+N when signal N ended it; 1 no room (CMD did not run); 64 wrong usage;
            126 CMD cannot be executed; 127 CMD not found.

Example (a systemd user unit):  ExecStart=/usr/local/bin/vram-guard run --wait 5m -- llama-server -m /models/qwen.gguf --port 8080`;

/** How often the GPU is read while waiting for room, and while the reservation waits for NVML. */
const POLL_MS = 1000;

async function read(source: GpuSource | null, reason: string): Promise<GpuReading> {
  if (!source) return { ok: false, reason };
  try {
    return { ok: true, sample: await source.sample(Date.now()), description: source.description };
  } catch (err) {
    return { ok: false, reason: `the ${source.kind} source failed to sample: ${errorMessage(err)}` };
  }
}

const sleep = (ms: number, interrupted: Promise<void>) =>
  new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void interrupted.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });

export async function runRunCommand(args: string[], io: CliIo): Promise<number> {
  const planned = parsePlan(args);
  if (planned === 'help') {
    io.stdout(`${RUN_HELP}\n`);
    return 0;
  }
  const { plan, parsed } = planned;
  const options = gpuOptions(parsed, io.env);
  const marginText = stringFlag(parsed, 'margin') ?? DEFAULT_MARGIN_TEXT;
  const margin = parseSize(marginText);
  if ('error' in margin) throw new UsageError(`--margin: ${margin.error}`);
  const residualThreshold = parseSize(DEFAULT_RESIDUAL_THRESHOLD_TEXT);
  if ('error' in residualThreshold) throw new Error(residualThreshold.error);
  const say = (text: string) => io.stderr(`vram-guard run: ${text}\n`);

  const [program, ...programArgs] = plan.command as [string, ...string[]];
  const found = await resolveCommand(program, io.env.PATH);
  if (!found.ok) {
    say(`${found.error}; nothing was started.`);
    return found.code;
  }
  // The registry of kinds says what the command is: llama-server's own arguments size it.
  const kind = recogniseCommand(plan.command, found.path);
  const name = basename(program);
  const isLlamaServer = kind?.serverKind === GGUF_SERVER_KIND;
  const sizeFromCommand = plan.needsBytes === null && plan.model === null && isLlamaServer;
  // llama.cpp's own fit comes from the llama-fit-params beside the llama-server that runs; with
  // --model and another command (a wrapper), beside the llama-server on PATH.
  const fitServer = isLlamaServer ? found.path : GGUF_SERVER_EXECUTABLE;
  const input = (reading: GpuReading): GateInput => ({
    taskName: name,
    gpu: plan.gpu,
    reading,
    needsBytes: plan.needsBytes,
    modelPath: plan.model,
    contextLength: null,
    run:
      plan.model !== null || sizeFromCommand
        ? {
            server: GGUF_SERVER_KIND,
            args: plan.model !== null ? (plan.sizeArgs ?? []) : programArgs,
            env: {},
            cwd: process.cwd(),
            command: fitServer,
          }
        : undefined,
    reserveMs: DEFAULT_RESERVE_MS,
  });

  const opened = await options.probe();
  const source = opened.ok ? opened.source : null;
  const noSource = opened.ok ? '' : opened.reason;
  const book = new ReservationBook(reservationsPath(io.env));
  // llama-fit-params is asked once per start, at the first look: not again at each poll of --wait.
  let askLlamaFit = false;
  const gate = preflightGate(() => ({ margin, residualThreshold, thresholds: options.thresholds, reservations: book, env: io.env, askLlamaFit, log: say }));
  // What `vram-guard ledger` shows about this run: the command's PID, its restarts and last exit.
  const records = runsDir(book.path);
  const record: RunRecord = { name, gpu: plan.gpu, runPid: process.pid, childPid: null, startedAt: null, restarts: 0, lastExit: null };
  const publish = () => writeRunRecord(records, record).catch(() => {});
  let stopping = false;
  void io.interrupted.then(() => {
    stopping = true;
  });

  /** The gate, waiting for room up to --wait: the result that lets it start, or run's exit status. */
  const passGate = async (): Promise<GateResult | number> => {
    const deadline = Date.now() + plan.waitMs;
    let toldWaiting = false;
    askLlamaFit = true;
    for (;;) {
      let result: GateResult;
      try {
        result = await gate(input(await read(source, noSource)));
      } catch (err) {
        if (err instanceof GateInputError) throw new UsageError(err.message);
        throw err;
      } finally {
        askLlamaFit = false;
      }
      if (result.status !== 'fail') {
        say(result.status === 'unavailable' ? `${result.summary} Starting ${name} without the check.` : result.summary);
        for (const line of result.details ?? []) say(line);
        return result;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        say(`${result.summary}${plan.waitMs ? ` (waited ${formatDuration(plan.waitMs)} for room)` : ''}`);
        for (const line of result.details ?? []) say(line);
        return 1;
      }
      if (!toldWaiting) {
        say(`no room yet; waiting up to ${formatDuration(left)}: ${result.summary}`);
        // What llama.cpp would fit now (asked once): the line is not repeated when room comes.
        const fit = result.checks.find((c) => c.id === LLAMA_FIT_CHECK_ID);
        if (fit) say(fit.detail);
      }
      toldWaiting = true;
      if (await sleep(Math.min(POLL_MS, left), io.interrupted)) {
        say('interrupted while waiting for room; nothing was started.');
        return 130;
      }
    }
  };

  /** One run of the command: the reservation held until NVML shows it, the output watched for cascades. */
  const runOnce = async (result: GateResult): Promise<ChildEnd> => {
    let pid: number | undefined;
    const watch = new CascadeWatch({
      rule: plan.cascade,
      onCascade: (cascade, last) => {
        void read(source, noSource).then((reading) => say(cascadeText(cascade, last, { name, pid: pid ?? null, gpu: plan.gpu }, reading)));
      },
    });
    const child = runChild({
      file: found.path,
      argv0: program,
      args: programArgs,
      env: io.env,
      stdout: process.stdout,
      stderr: process.stderr,
      onOutput: (chunk, stream) => watch.push(chunk, stream),
      sharedGroup: process.stdin.isTTY === true,
    });
    pid = child.pid;
    record.childPid = pid ?? null;
    record.startedAt = Date.now();
    await publish();
    const reservation = result.reservation ?? null;
    let watching: ReturnType<typeof setTimeout> | null = null;
    if (reservation && pid !== undefined) {
      const serverPid = pid;
      await reservation.attach(serverPid);
      // Released once the server's memory shows in NVML (then NVML counts it), or when it ends.
      const until = Date.now() + DEFAULT_RESERVE_MS;
      const check = async () => {
        const reading = await read(source, noSource);
        const bytes = reading.ok ? treeBytesOnGpu(reading.sample, plan.gpu, serverPid, await readProcessTable()) : null;
        // Its memory shows in NVML (then NVML counts it), or the reservation's time is up (a server that never uses the GPU).
        if ((bytes !== null && bytes > 0) || Date.now() >= until) {
          watching = null;
          await reservation.release();
          return;
        }
        if (watching !== null) watching = setTimeout(check, POLL_MS);
      };
      watching = setTimeout(check, POLL_MS);
    }
    const end = await child.ended;
    if (watching !== null) clearTimeout(watching);
    watching = null;
    await reservation?.release();
    record.childPid = null;
    record.lastExit = { code: end.code, signal: end.signal, at: Date.now() };
    await publish();
    if (end.startError) say(`${program} could not be started: ${end.startError}`);
    return end;
  };

  let releaseLock: (() => void) | null = null;
  try {
    if (plan.exclusive) {
      const lock = new GpuLock({ path: gpuLockPath(io.env) });
      const abort = new AbortController();
      void io.interrupted.then(() => abort.abort());
      const holder = await lock.elsewhere();
      if (holder)
        say(
          `waiting for the GPU lock: "${holder.name}" holds it since ${new Date(holder.since).toISOString()}${holder.pid ? `, from PID ${holder.pid}` : ''} (exclusive servers run one at a time)`,
        );
      try {
        releaseLock = await lock.acquire(`${name} (vram-guard run, PID ${process.pid})`, abort.signal);
      } catch (err) {
        if (abort.signal.aborted) {
          say('interrupted while waiting for the GPU lock; nothing was started.');
          return 130;
        }
        throw err;
      }
    }
    const restarts = new RestartPolicy(plan.restart ? plan.maxRestartsPerHour : 0);
    for (;;) {
      const gated = await passGate();
      if (typeof gated === 'number') return gated;
      const startedAt = Date.now();
      const end = await runOnce(gated);
      if (stopping || end.status === 0 || end.startError) return end.status;
      const next = restarts.next(Date.now(), Date.now() - startedAt);
      const how = end.signal ? `was ended by ${end.signal}` : `exited with ${end.code}`;
      if (next === null) {
        if (plan.restart) say(`${name} ${how}; not restarted: ${restarts.limit} restarts in the last hour (--max-restarts).`);
        return end.status;
      }
      say(`${name} ${how}; restarting in ${formatDuration(next)} (the gate is checked again first).`);
      if (await sleep(next, io.interrupted)) return end.status;
      record.restarts++;
    }
  } finally {
    await removeRunRecord(records, process.pid);
    releaseLock?.();
    await source?.dispose();
  }
}
