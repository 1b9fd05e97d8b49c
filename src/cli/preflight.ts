/**
 * `vram-guard preflight`: is there room on the GPU for a model server, before it starts?
 * Usable as a task's `dependsOn` or in a shell: `vram-guard preflight --need 6GiB && llama-server ...`.
 */
import { addLlamaFitCheck } from '../core/checks/llama-fit-check.ts';
import { access } from 'node:fs/promises';
import {
  DEFAULT_MARGIN_TEXT,
  DEFAULT_RESIDUAL_THRESHOLD_TEXT,
  preflightExitCode,
  runPreflight,
  type PreflightNeed,
  type PreflightReport,
} from '../core/checks/preflight.ts';
import { parseDuration } from '../core/duration.ts';
import { KV_CACHE_TYPES } from '../core/estimate/llama-settings.ts';
import { FootprintStore } from '../core/estimate/measured-footprints.ts';
import { splitCommandLine } from '../core/estimate/server-args.ts';
import { GGUF_SERVER_EXECUTABLE, GGUF_SERVER_KIND, SIZED_KINDS, type ServerKind } from '../core/servers/kinds/index.ts';
import { ReservationBook, reservationsPath, type Reservation } from '../core/servers/reservations.ts';
import { modelNeedFor } from '../core/checks/preflight-gate.ts';
import { GateInputError } from '../core/servers/vram-gate.ts';
import { resolveStateDir } from '../core/state-dir.ts';
import { preflightJson, preflightMarkdown } from '../core/checks/preflight-report.ts';
import { parseSize, type SizeSpec } from '../core/units.ts';
import { parseCommand, stringFlag, UsageError, type ParsedArgs } from './args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions } from './gpu-options.ts';
import type { CliIo } from './io.ts';
import { errorMessage } from '../core/errors.ts';
import type { GpuReading } from '../core/watch/watcher.ts';

export const PREFLIGHT_HELP = `vram-guard preflight [--gpu N] [--need 6GiB | --model path.gguf [--args "-c 8192 -np 2 -fa on ..."]]
                    [--server llama-server|ollama] [--margin 1GiB] [--json] [--strict] [--fail-on-warn] [options]

Checks that a model server fits on the GPU before it starts: free VRAM against the need plus a
margin, memory no process accounts for, the level the GPU would reach, persistence mode and the
driver. Without GPU figures (no NVML, no nvidia-smi) it says so and does not block, unless --strict.
--args is split without a shell, and LLAMA_ARG_* variables count too; without it, llama-server's
defaults apply. With --server ollama, OLLAMA_CONTEXT_LENGTH, OLLAMA_NUM_PARALLEL,
OLLAMA_FLASH_ATTENTION, OLLAMA_KV_CACHE_TYPE and the model's num_ctx are read.

  --gpu N                         the GPU to check (default 0)
  --need SIZE                     what the server needs, e.g. 6GiB or 6144MiB (with --model: the need when the model cannot be estimated)
  --model PATH                    estimate the need from a GGUF file (--server ollama: a model name from Ollama's store); without --need, one it cannot estimate fails
  --args "ARGS"                   llama-server's arguments (-c, -np, -fa, -ctk/-ctv, -ngl, --n-cpu-moe, -ot, --mmproj, --fit ...)
  --server llama-server|ollama    how the model runs (default llama-server; ollama reads its OLLAMA_* variables)
  --ctx N                         shorthand for -c N×parallel
  --parallel N                    shorthand for -np N
  --kv-type T                     shorthand for -ctk T -ctv T (${KV_CACHE_TYPES.join(', ')})
  --flash-attention               shorthand for -fa on
  --margin SIZE                   free VRAM to keep beyond the need (default ${DEFAULT_MARGIN_TEXT}; a % of the total works)
  --residual-threshold SIZE       used memory no process holds, above which to warn (default ${DEFAULT_RESIDUAL_THRESHOLD_TEXT})
  --reserve DURATION              on a pass, reserve the need for DURATION (2m) for the server started next (preflight --reserve 2m … && llama-server …)
  --json                          print JSON instead of Markdown
  --strict                        fail when there are no GPU figures
  --fail-on-warn                  exit 3 when there are warnings but no failure
${GPU_OPTIONS_HELP}

Exit codes: 0 pass (warnings allowed, or no GPU figures without --strict), 1 a check failed,
            3 warnings with --fail-on-warn, 64 wrong usage.`;

const BOOLEANS = ['json', 'strict', 'fail-on-warn', 'flash-attention', 'help'] as const;
const VALUES = ['gpu', 'need', 'model', 'args', 'server', 'ctx', 'parallel', 'kv-type', 'margin', 'residual-threshold', 'reserve', ...GPU_VALUE_FLAGS] as const;

export async function runPreflightCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(args, { booleans: BOOLEANS, values: VALUES, rawValues: ['args'], help: PREFLIGHT_HELP }, io);
  if (!parsed) return 0;
  const options = gpuOptions(parsed, io.env);
  const gpu = wholeNumber(parsed, 'gpu', 0, 0, 63);
  const margin = sizeFlag(parsed, 'margin', DEFAULT_MARGIN_TEXT, true);
  const residualThreshold = sizeFlag(parsed, 'residual-threshold', DEFAULT_RESIDUAL_THRESHOLD_TEXT, true);
  const needSpec = parseNeed(parsed, io.env);
  const reserveMs = parseReserve(parsed, needSpec);

  // Every argument is checked above, before the GPU is opened or the model read.
  const gpuFigures = await sample(options.probe);
  const stateDir = await resolveStateDir(
    (p) =>
      access(p).then(
        () => true,
        () => false,
      ),
    io.env,
  );
  const needValue = await resolveNeed(needSpec, gpu, gpuFigures, io.env, stateDir);
  const warn = (m: string) => io.stderr(`vram-guard preflight: ${m}\n`);
  const check = (reservations: readonly Reservation[]) =>
    runPreflight(gpuFigures, {
      gpu,
      need: needValue,
      margin,
      residualThreshold,
      thresholds: options.thresholds,
      platform: process.platform,
      strict: parsed.flags.has('strict'),
      reservations,
      unestimatedModel: needSpec.kind === 'model' ? (needSpec.instead ?? 'required') : undefined,
    });
  const report = reserveMs === null ? check(await readReservations(io.env, warn)) : await checkAndReserve(check, reserveMs, gpu, io.env, warn);
  // llama.cpp's own fit, from the llama-fit-params beside llama-server on PATH (the one this shell would run).
  if (needSpec.kind === 'model' && needSpec.server === GGUF_SERVER_KIND)
    await addLlamaFitCheck(report, { serverCommand: GGUF_SERVER_EXECUTABLE, env: io.env, cwd: process.cwd() });
  io.stdout(parsed.flags.has('json') ? `${JSON.stringify(preflightJson(report), null, 2)}\n` : preflightMarkdown(report));
  return preflightExitCode(report, parsed.flags.has('fail-on-warn'));
}

async function sample(probe: ReturnType<typeof gpuOptions>['probe']): Promise<GpuReading> {
  const opened = await probe();
  if (!opened.ok) return { ok: false, reason: opened.reason };
  try {
    return { ok: true, sample: await opened.source.sample(Date.now()), description: opened.source.description };
  } catch (err) {
    return { ok: false, reason: `the ${opened.source.kind} source failed to sample: ${errorMessage(err)}` };
  } finally {
    await opened.source.dispose();
  }
}

/** A model's need, or a size; with both, the size is the need when the model cannot be estimated. */
type NeedSpec =
  | Exclude<PreflightNeed, { kind: 'model' }>
  | { kind: 'model'; model: string; server: ServerKind; args: string[]; instead: { kind: 'size'; bytes: number; from: string } | null };

function parseNeed(parsed: ParsedArgs, env: NodeJS.ProcessEnv): NeedSpec {
  const needText = stringFlag(parsed, 'need');
  const model = stringFlag(parsed, 'model');
  const modelOnly = ['args', 'server', 'ctx', 'parallel', 'kv-type', 'flash-attention'].filter((f) => parsed.flags.has(f));
  if (model === undefined && modelOnly.length) throw new UsageError(`--${modelOnly[0]} only applies with --model`);
  const given = needText === undefined ? null : parseSizeFlag('need', needText, false);
  const size = given === null ? null : { kind: 'size' as const, bytes: given.kind === 'bytes' ? given.bytes : 0, from: '--need' };
  if (model === undefined) return size ?? { kind: 'none' };
  const serverText = stringFlag(parsed, 'server') ?? GGUF_SERVER_KIND;
  const sized = SIZED_KINDS.find((k) => k.id === serverText);
  if (!sized) throw new UsageError(`--server must be ${SIZED_KINDS.map((k) => k.id).join(' or ')}, not "${serverText}"`);
  const server = sized.id;
  const argsText = stringFlag(parsed, 'args');
  if (argsText !== undefined && !sized.sizing?.readsArgs)
    throw new UsageError(`--args is for ${GGUF_SERVER_KIND}; ${sized.label} takes its settings from ${sized.sizing?.settings?.summary ?? 'elsewhere'}`);
  const split = splitCommandLine(argsText ?? '');
  if (!split.ok) throw new UsageError(`--args: ${split.error}`);
  const args = split.args;
  // The shorthands, as llama-server arguments after --args (the last one wins, as in llama-server).
  const parallel = parsed.flags.has('parallel') ? wholeNumber(parsed, 'parallel', 1, 1, 1024) : null;
  if (parsed.flags.has('ctx')) args.push('-c', String(wholeNumber(parsed, 'ctx', 4096, 1, 16_777_216) * (parallel ?? 1)));
  if (parallel !== null) args.push('-np', String(parallel));
  const kvType = stringFlag(parsed, 'kv-type');
  if (kvType !== undefined) {
    if (!(KV_CACHE_TYPES as readonly string[]).includes(kvType)) throw new UsageError(`--kv-type must be one of ${KV_CACHE_TYPES.join(', ')}, not "${kvType}"`);
    args.push('-ctk', kvType, '-ctv', kvType);
  }
  if (parsed.flags.has('flash-attention')) args.push('-fa', 'on');
  if (!sized.sizing?.readsArgs && args.length)
    throw new UsageError(
      `--ctx, --parallel, --kv-type and --flash-attention are for ${GGUF_SERVER_KIND}; for ${sized.label} set ${sized.sizing?.settings?.list ?? 'its own settings'}`,
    );
  // The same parser as the gate's, now, so that a wrong value is a usage error before the GPU is opened.
  const check = sized.sizing?.checkArgs?.(args, env);
  if (check && !check.ok) throw new UsageError(check.error);
  return { kind: 'model', model, server, args, instead: size };
}

async function resolveNeed(spec: NeedSpec, gpu: number, reading: GpuReading, env: NodeJS.ProcessEnv, stateDir: string): Promise<PreflightNeed> {
  if (spec.kind !== 'model') return spec;
  const footprints = new FootprintStore(stateDir, (m) => process.stderr.write(`vram-guard: ${m}\n`));
  try {
    const r = await modelNeedFor(
      {
        taskName: spec.model,
        gpu,
        reading,
        needsBytes: null,
        modelPath: spec.model,
        contextLength: null,
        // The llama-server on PATH (the one this shell would run) is asked its --version, as llama-fit-params is asked beside it.
        run: {
          server: spec.server,
          args: spec.args,
          env: {},
          cwd: process.cwd(),
          command: spec.server === GGUF_SERVER_KIND ? GGUF_SERVER_EXECUTABLE : undefined,
        },
      },
      { footprints, env, askLlamaFit: spec.server === GGUF_SERVER_KIND },
      '--args',
    );
    return r?.need ?? { kind: 'none' };
  } catch (err) {
    if (err instanceof GateInputError) throw new UsageError(err.message);
    throw err;
  }
}

/** --reserve DURATION: how long a passing check reserves its need (null: it does not). */
function parseReserve(parsed: ParsedArgs, need: NeedSpec): number | null {
  const text = stringFlag(parsed, 'reserve');
  if (text === undefined) return null;
  const d = parseDuration(text);
  if ('error' in d) throw new UsageError(`--reserve: ${d.error}`);
  if (d.ms <= 0 || d.ms > 3_600_000) throw new UsageError('--reserve must be more than 0 and at most 1h');
  if (need.kind === 'none') throw new UsageError('--reserve needs a need to reserve: --need SIZE or --model FILE');
  return d.ms;
}

/**
 * The check and the reservation in one step, under the reservations' lock, so that two gates at
 * once never both pass on the same free memory. The reservation lasts `ms`, or until the shell
 * that ran this command exits (preflight itself exits at once: its parent holds it).
 */
async function checkAndReserve(
  check: (r: readonly Reservation[]) => PreflightReport,
  ms: number,
  gpu: number,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): Promise<PreflightReport> {
  const book = new ReservationBook(reservationsPath(env));
  try {
    return await book.update((live) => {
      const report = check(live);
      if (report.verdict === 'fail' || report.verdict === 'unavailable' || report.needBytes === null || report.needBytes <= 0) return { result: report };
      const now = Date.now();
      const owner = `vram-guard preflight --reserve (shell PID ${process.ppid})`;
      const entry: Reservation = {
        id: book.newId(owner),
        gpu,
        bytes: report.needBytes,
        owner,
        holderPid: process.ppid,
        serverPid: null,
        createdAt: now,
        expiresAt: now + ms,
      };
      return { result: report, next: [...live, entry] };
    });
  } catch (err) {
    warn(`the reservation could not be written (${errorMessage(err)}); checked against what NVML shows.`);
    return check(await readReservations(env, warn));
  }
}

/** What servers starting elsewhere (VS Code windows) have reserved; none, said on stderr, when they cannot be read. */
async function readReservations(env: NodeJS.ProcessEnv, warn: (message: string) => void): Promise<Reservation[]> {
  return new ReservationBook(reservationsPath(env)).list().catch((err: unknown) => {
    warn(`reservations not counted: ${errorMessage(err)}`);
    return [];
  });
}

function wholeNumber(parsed: ParsedArgs, name: string, fallback: number, min: number, max: number): number {
  const text = stringFlag(parsed, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || n < min || n > max) throw new UsageError(`--${name} needs a whole number from ${min} to ${max}, not "${text}"`);
  return n;
}

function parseSizeFlag(name: string, text: string, percentAllowed: boolean): SizeSpec {
  const spec = parseSize(text);
  if ('error' in spec) throw new UsageError(`--${name}: ${spec.error}`);
  if (spec.kind === 'percent' && !percentAllowed) throw new UsageError(`--${name} must be a size such as 6GiB or 6144MiB, not a percentage`);
  return spec;
}

function sizeFlag(parsed: ParsedArgs, name: string, fallback: string, percentAllowed: boolean): SizeSpec {
  return parseSizeFlag(name, stringFlag(parsed, name) ?? fallback, percentAllowed);
}
