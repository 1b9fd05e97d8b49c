/**
 * A `vram-guard` task's server through its life: the VRAM gate, the GPU lock for exclusive tasks,
 * the process (start, health, stop), and restarts with a smaller context or on the CPU, which is how
 * fallback steps shrink llama-server, vLLM and Whisper. Every step is told on `log`, in sentences a
 * person reads in the task's terminal.
 */
import { GGUF_SERVER_KIND } from './kinds/index.ts';
import { LoadReportParser } from '../estimate/load-report.ts';
import { breakdownText, printedBreakdown, printedFootprint, printedText } from '../estimate/printed-footprint.ts';
import { withLoadReportVerbosity } from './load-report-args.ts';
import { Emitter } from '../events.ts';
import type { GpuLock } from './gpu-lock.ts';
import { portInUse } from './port-probe.ts';
import { ServerProcess, type ExitInfo, type StopResult } from './server-process.ts';
import { serverBaseUrl, type ServerTaskDefinition } from './task-definition.ts';
import { GateInputError, type GateResult, type VramGate } from './vram-gate.ts';
import type { GpuReading } from '../watch/watcher.ts';
import { treeBytesOnGpu } from './ledger.ts';
import { readProcessTable } from './process-tree.ts';
import { formatMiB, MiB } from '../units.ts';
import { errorMessage } from '../errors.ts';

export interface ManagedServerDeps {
  /** A fresh GPU sample for the gate, or why there is none. */
  readGpu: () => Promise<GpuReading>;
  gate: VramGate;
  lock: GpuLock;
  stopTimeoutMs: number;
  healthIntervalMs?: number;
  fetch?: typeof fetch;
  /** NVML's figure for the server's process tree on its GPU (default: from `readGpu` and /proc); null when unknown. */
  measureTree?: (rootPid: number, gpu: number) => Promise<number | null>;
  /** After ready: how often the footprint is read, how many equal reads make it settled, and for how long at most. */
  settle?: { intervalMs: number; stableReads: number; timeoutMs: number };
}

/** Reads in a row within this of each other count as settled. */
const SETTLE_TOLERANCE_BYTES = 32 * MiB;

export interface Overrides {
  /** Context size replacing the task's (llama-server `-c`, vLLM `--max-model-len`). */
  contextSize: number | null;
  /** Run with the task's CPU arguments and environment. */
  cpu: boolean;
}

export type ServerState =
  | 'idle'
  | 'checking'
  | 'waiting-for-gpu-lock'
  | 'starting'
  | 'ready'
  | 'restarting'
  | 'stopping'
  | 'stopped'
  | 'refused'
  | 'failed'
  | 'exited';

export type StartOutcome = { ok: true; pid: number } | { ok: false; message: string; gate?: GateResult; lastLines?: string[] };

type Events = {
  /** VRAM Guard's own messages about this server. */
  log: [string];
  /** The server's stdout/stderr, as it comes. */
  output: [text: string, stream: 'stdout' | 'stderr'];
  state: [ServerState];
};

export class ManagedServer extends Emitter<Events> {
  readonly task: ServerTaskDefinition;
  private readonly deps: ManagedServerDeps;
  state: ServerState = 'idle';
  overrides: Overrides = { contextSize: null, cpu: false };
  process: ServerProcess | null = null;
  lastGate: GateResult | null = null;
  /** llama.cpp's load report, read from the running llama-server's output (this start's). */
  loadReport: LoadReportParser | null = null;
  lastExit: ExitInfo | null = null;
  /** When the running process became ready (ms since the epoch); null while none is ready. */
  readyAt: number | null = null;
  /** Times it was started again: by a fallback step or its restart policy. */
  restarts = 0;
  /** The last exit that was not asked for: when, and the server's last lines then. */
  lastFailure: { at: number; exit: ExitInfo; lastLines: string[] } | null = null;
  private release: (() => void) | null = null;
  private abort = new AbortController();
  /** The memory breakdown table being added to the measured footprint as the server stopped; stop() waits for it. */
  private keeping: Promise<void> = Promise.resolve();

  constructor(task: ServerTaskDefinition, deps: ManagedServerDeps) {
    super();
    this.task = task;
    this.deps = deps;
  }

  get name(): string {
    return this.task.name;
  }

  get pid(): number | null {
    return this.process && !this.process.exit ? this.process.pid : null;
  }

  get baseUrl(): string | null {
    return serverBaseUrl(this.task);
  }

  /** The context size in effect: the override, else the value after the context argument, else null. */
  currentContext(): number | null {
    if (this.overrides.contextSize !== null) return this.overrides.contextSize;
    const arg = this.task.fallback.contextArg;
    if (!arg) return null;
    const all = [...this.task.command, ...this.task.args];
    const i = all.lastIndexOf(arg);
    const v = i >= 0 ? Number(all[i + 1]) : NaN;
    return Number.isFinite(v) ? v : null;
  }

  /** The next smaller size from the task's `contextSizes`, or null when there is none. */
  nextContext(): number | null {
    const current = this.currentContext();
    const sizes = this.task.fallback.contextSizes;
    if (!sizes.length) return null;
    if (current === null) return sizes[1] ?? null;
    return sizes.find((s) => s < current) ?? null;
  }

  /** The command line and environment the next start uses. */
  commandLine(): { command: string; args: string[]; env: Record<string, string> } {
    const [command, ...fixed] = this.task.command;
    let args = [...fixed, ...this.task.args];
    const arg = this.task.fallback.contextArg;
    if (this.overrides.contextSize !== null && arg) {
      const i = args.lastIndexOf(arg);
      if (i >= 0 && i + 1 < args.length) args[i + 1] = String(this.overrides.contextSize);
      else args = [...args, arg, String(this.overrides.contextSize)];
    }
    let env = { ...this.task.env };
    if (this.overrides.cpu) {
      const cpuArgs = this.task.fallback.cpuArgs;
      // A lone flag (-ng) is added once; options with values (-ngl 0) are appended, and the last one wins.
      const [lone, ...more] = cpuArgs;
      if (!(lone !== undefined && more.length === 0 && args.includes(lone))) args.push(...cpuArgs);
      env = { ...env, ...this.task.fallback.cpuEnv };
    }
    if (command === undefined) throw new Error(`Task "${this.task.name}" has an empty command.`);
    // The verbosity flag goes last, after the fallback's changes; what the server inherits counts too.
    if (this.task.loadReport) args = withLoadReportVerbosity(args, { ...process.env, ...env });
    return { command, args, env };
  }

  private setState(state: ServerState): void {
    this.state = state;
    this.emit('state', state);
  }

  private say(message: string): void {
    this.emit('log', message);
  }

  /** Gate, lock, spawn, health. A refused or failed start says why, with the numbers. */
  async start(options: { skipGate?: boolean } = {}): Promise<StartOutcome> {
    const t = this.task;
    this.abort = new AbortController();
    this.lastGate = null;
    if (!options.skipGate) {
      this.setState('checking');
      let gate: GateResult;
      try {
        const reading = await this.deps.readGpu();
        const line = this.commandLine();
        gate = await this.deps.gate({
          taskName: t.name,
          gpu: t.gpu,
          reading,
          needsBytes: t.needsBytes,
          modelPath: t.model,
          contextLength: this.currentContext(),
          run: { server: t.server, args: line.args, env: line.env, cwd: t.cwd, command: line.command },
          reserveMs: t.startTimeoutSeconds * 1000 + (this.deps.settle?.timeoutMs ?? 120_000),
        });
      } catch (err) {
        // Arguments that cannot be read, a model that cannot be found, a gate that broke: the task ends, with the reason.
        const message = err instanceof GateInputError ? err.message : `"${t.name}" was not started: the VRAM gate could not run: ${errorMessage(err)}.`;
        this.say(message);
        this.setState('failed');
        return { ok: false, message };
      }
      this.lastGate = gate;
      // A refusal: its one sentence first, then each check that failed or warned on a line of its own.
      const lines =
        gate.status === 'fail' && gate.headline
          ? [
              `VRAM gate: FAIL — ${gate.headline}`,
              ...gate.checks
                .filter((c) => c.status === 'fail' || c.status === 'warn')
                .flatMap((c) => [`  ${c.title}: ${c.detail}`, ...(c.advice ? [`    ${c.advice}`] : [])]),
            ]
          : [`VRAM gate: ${gate.status.toUpperCase()} — ${gate.summary}`];
      // The estimate's parts and assumptions, and what would fit, unless a line above already said them.
      const said = lines.join('\n');
      for (const d of gate.details ?? []) if (!said.includes(d.slice(d.indexOf(': ') + 2))) lines.push(`  ${d}`);
      for (const l of lines) this.say(l);
      if (gate.status === 'fail') {
        this.setState('refused');
        return { ok: false, message: gate.summary, gate };
      }
    }
    if (t.exclusive && !this.release) {
      const holder = this.deps.lock.current ?? (await this.deps.lock.elsewhere());
      if (holder) {
        this.setState('waiting-for-gpu-lock');
        const where = holder.pid ? ` in another window (PID ${holder.pid})` : '';
        this.say(
          `Waiting for the GPU lock, held by "${holder.name}"${where} since ${new Date(holder.since).toLocaleTimeString()} (exclusive tasks run one at a time).`,
        );
      }
      try {
        this.release = await this.deps.lock.acquire(t.name, this.abort.signal);
      } catch (err) {
        await this.lastGate?.reservation?.release();
        this.setState('stopped');
        return { ok: false, message: (err as Error).message };
      }
    }
    return this.spawn();
  }

  /** Once ready: wait for the tree's memory to settle, then drop the reservation and remember the footprint. */
  private async afterReady(p: ServerProcess, pid: number): Promise<void> {
    const gate = this.lastGate;
    const reservation = gate?.reservation ?? null;
    const footprint = gate?.footprint ?? null;
    if (!reservation && !footprint) return;
    const settle = this.deps.settle ?? { intervalMs: 2000, stableReads: 3, timeoutMs: 120_000 };
    const measure =
      this.deps.measureTree ??
      (async (root: number, gpu: number) => {
        const reading = await this.deps.readGpu();
        return reading.ok ? treeBytesOnGpu(reading.sample, gpu, root, await readProcessTable()) : null;
      });
    const reads: number[] = [];
    const started = Date.now();
    let settled: number | null = null;
    while (!p.exit && this.process === p && Date.now() - started < settle.timeoutMs) {
      const bytes = await measure(pid, this.task.gpu).catch(() => null);
      if (bytes !== null && bytes > 0) {
        reads.push(bytes);
        const last = reads.slice(-settle.stableReads);
        if (last.length === settle.stableReads && Math.max(...last) - Math.min(...last) <= SETTLE_TOLERANCE_BYTES) {
          settled = last[last.length - 1] ?? null;
          break;
        }
      }
      await new Promise((r) => setTimeout(r, settle.intervalMs));
    }
    await reservation?.release();
    const parser = this.loadReport;
    const printed = parser?.completedAt ? printedFootprint(parser.report(), new Date(parser.completedAt)) : null;
    if ((settled === null && !printed) || p.exit || this.process !== p || !footprint) return;
    try {
      await footprint.record(settled, printed);
      if (settled !== null)
        this.say(
          `Measured footprint: ${formatMiB(settled)} (NVML, the server's processes, settled)${footprint.estimateBytes !== null ? `; the estimate was ${formatMiB(footprint.estimateBytes)}` : ''}. The next start with the same model file and settings uses it.`,
        );
      if (printed) this.say(`llama.cpp's own load report: ${printedText(printed)}. The next estimate for the same model file and settings uses these parts.`);
    } catch (err) {
      this.say(`The measured footprint could not be saved: ${(err as Error).message}.`);
    }
  }

  /**
   * llama-server prints its memory breakdown table as it stops, after the footprint was recorded at
   * ready: the table's rows are added to the same entry (under the store's lock), beside the parts.
   */
  private async keepBreakdown(report: LoadReportParser): Promise<void> {
    const footprint = this.lastGate?.footprint ?? null;
    const r = report.report();
    const breakdown = printedBreakdown(r, new Date());
    const printed = report.completedAt ? printedFootprint(r, new Date(report.completedAt)) : null;
    if (!footprint || !breakdown || !printed) return;
    try {
      await footprint.record(null, { ...printed, breakdown });
      this.say(`llama.cpp's memory breakdown as it stopped: ${breakdownText(breakdown)}. Kept with the measured footprint.`);
    } catch (err) {
      this.say(`The memory breakdown could not be saved: ${(err as Error).message}.`);
    }
  }

  private async spawn(): Promise<StartOutcome> {
    const line = this.commandLine();
    this.setState('starting');
    const taken = await portInUse(this.task.healthUrl, this.task.port);
    if (taken) {
      this.releaseLock();
      this.setState('failed');
      this.say(taken);
      return { ok: false, message: taken };
    }
    this.say(
      `Starting: ${[line.command, ...line.args].map(quote).join(' ')}${
        Object.keys(line.env).length
          ? ` (env ${Object.entries(line.env)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')})`
          : ''
      }`,
    );
    if (this.task.healthUrl) this.say(`Waiting for ${this.task.healthUrl} to answer 200 (up to ${this.task.startTimeoutSeconds} s)…`);
    const p = new ServerProcess({
      command: line.command,
      args: line.args,
      env: line.env,
      cwd: this.task.cwd ?? undefined,
      healthUrl: this.task.healthUrl,
      startTimeoutMs: this.task.startTimeoutSeconds * 1000,
      stopTimeoutMs: this.deps.stopTimeoutMs,
      healthIntervalMs: this.deps.healthIntervalMs,
      fetch: this.deps.fetch,
    });
    this.process = p;
    // llama.cpp's load report (printed at -lv 4 and above): read from every llama-server's output.
    const report = this.task.server === GGUF_SERVER_KIND ? new LoadReportParser() : null;
    this.loadReport = report;
    p.on('output', (text, stream) => {
      report?.push(text, stream);
      this.emit('output', text, stream);
    });
    p.on('exit', (exit) => {
      report?.end();
      if (report) this.keeping = this.keepBreakdown(report);
      this.lastExit = exit;
      if (this.process === p) this.readyAt = null;
      if (this.process !== p || this.state === 'stopping' || this.state === 'restarting' || this.state === 'starting') return;
      this.lastFailure = { at: Date.now(), exit, lastLines: p.lastLines(5) };
      this.say(
        `The server exited unexpectedly with ${exit.signal ? `signal ${exit.signal}` : `exit code ${String(exit.exitCode)}`}. Last log lines:\n${p.lastLines(10).join('\n')}`,
      );
      this.releaseLock();
      this.setState('exited');
    });
    const reservation = this.lastGate?.reservation ?? null;
    p.on('exit', () => void reservation?.release());
    const r = await p.start();
    if (r.ok) {
      void reservation?.attach(r.pid);
      this.readyAt = Date.now();
      this.setState('ready');
      this.say(`Ready after ${(r.readyMs / 1000).toFixed(1)} s (PID ${r.pid}).`);
      void this.afterReady(p, r.pid);
      return { ok: true, pid: r.pid };
    }
    if (r.reason === 'timeout') await p.stop();
    await reservation?.release();
    this.releaseLock();
    if (r.exit) this.lastFailure = { at: Date.now(), exit: r.exit, lastLines: r.lastLines.slice(-5) };
    this.setState(r.reason === 'stopped' ? 'stopped' : 'failed');
    const tail = r.lastLines.length ? `\n${r.lastLines.join('\n')}` : '';
    this.say(`${r.message}${tail}`);
    return { ok: false, message: r.message, lastLines: r.lastLines };
  }

  /** Stops the server and its process tree (SIGTERM, wait, SIGKILL) and releases the GPU lock. */
  async stop(reason = 'stop requested'): Promise<StopResult | null> {
    this.abort.abort();
    const p = this.process;
    if (!p || p.exit) {
      this.releaseLock();
      this.setState('stopped');
      return null;
    }
    this.setState('stopping');
    this.say(`Stopping (${reason}): SIGTERM, then SIGKILL after ${Math.round(this.deps.stopTimeoutMs / 1000)} s…`);
    const r = await p.stop();
    await this.keeping;
    this.say(
      r.how === 'SIGKILL'
        ? `It ignored SIGTERM for ${(r.waitedMs / 1000).toFixed(1)} s and was killed (SIGKILL, ${r.pids.length} process${r.pids.length === 1 ? '' : 'es'}).`
        : `Stopped (${r.how === 'SIGTERM' ? 'SIGTERM' : 'it had already exited'}).`,
    );
    this.releaseLock();
    this.setState('stopped');
    return r;
  }

  /** Stops and starts again with new overrides (no gate: the memory it held is freed first). */
  async restart(overrides: Partial<Overrides>, reason: string): Promise<StartOutcome> {
    this.overrides = { ...this.overrides, ...overrides };
    const p = this.process;
    this.restarts++;
    this.setState('restarting');
    this.say(`Restarting (${reason}).`);
    if (p && !p.exit) {
      const r = await p.stop();
      if (r.how === 'SIGKILL') this.say(`It ignored SIGTERM and was killed after ${(r.waitedMs / 1000).toFixed(1)} s.`);
    }
    return this.spawn();
  }

  /** For the host's last moments: SIGKILL at once, synchronously. */
  killNow(): void {
    this.process?.killNow();
    this.releaseLock();
  }

  private releaseLock(): void {
    const release = this.release;
    this.release = null;
    release?.();
  }
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
