/**
 * One model server as a child process: spawn with execa (an argument array, never a shell), stream
 * stdout/stderr as they come (the pipes are always drained), poll the health URL until it answers
 * 200, notice an early exit (its code and last log lines), and stop the whole process tree:
 * SIGTERM, wait, then SIGKILL.
 *
 * The child leads its own process group, so a signal reaches its helpers too; descendants that left
 * the group are found through /proc and signalled one by one.
 */
import { execa } from 'execa';
import { Emitter } from '../events.ts';
import { discardBody } from './http.ts';
import { OutputLines } from './output-lines.ts';
import { groupRunning, isRunning, processGroupOf, processTree, signalQuietly } from './process-tree.ts';

export interface ServerProcessOptions {
  command: string;
  args: string[];
  /** Added to the extension host's environment. */
  env?: Record<string, string>;
  cwd?: string | undefined;
  /** Polled until it answers 200; null: ready once the process has run `settleMs` without exiting. */
  healthUrl: string | null;
  startTimeoutMs: number;
  healthIntervalMs?: number;
  /** Without a health URL: how long the process must survive to count as started. */
  settleMs?: number;
  /** SIGTERM → SIGKILL grace period. */
  stopTimeoutMs: number;
  /** How many of the last log lines are kept for error reports. */
  keepLines?: number;
  fetch?: typeof fetch;
}

export interface ExitInfo {
  exitCode: number | null;
  signal: string | null;
  /** Why it could not run at all (e.g. "spawn llama-server ENOENT"); null when it ran. */
  spawnError: string | null;
}

export type StartResult =
  | { ok: true; pid: number; readyMs: number }
  | { ok: false; reason: 'spawn-failed' | 'exited' | 'timeout' | 'stopped'; message: string; exit: ExitInfo | null; lastLines: string[] };

export interface StopResult {
  /** How the process ended: it was already gone, SIGTERM was enough, or SIGKILL was needed. */
  how: 'already-exited' | 'SIGTERM' | 'SIGKILL';
  waitedMs: number;
  /** Every PID of the tree that was signalled. */
  pids: number[];
}

type Events = {
  output: [text: string, stream: 'stdout' | 'stderr'];
  exit: [ExitInfo];
};

export class ServerProcess extends Emitter<Events> {
  readonly options: ServerProcessOptions;
  pid: number | null = null;
  state: 'new' | 'starting' | 'ready' | 'stopping' | 'exited' = 'new';
  exit: ExitInfo | null = null;
  private exitedPromise: Promise<ExitInfo> = Promise.resolve({ exitCode: null, signal: null, spawnError: null });
  private readonly output: OutputLines;
  private stopRequested = false;

  constructor(options: ServerProcessOptions) {
    super();
    this.options = options;
    this.output = new OutputLines({ keep: options.keepLines ?? 20 });
  }

  /** The last log lines (stdout and stderr interleaved as they came; long lines cut). */
  lastLines(count = this.options.keepLines ?? 20): string[] {
    return this.output.last(count);
  }

  /** Resolves when the process has exited (at once if it never ran). */
  exited(): Promise<ExitInfo> {
    return this.exitedPromise;
  }

  async start(): Promise<StartResult> {
    if (this.state !== 'new') throw new Error('a ServerProcess starts once; create another to start again');
    const t0 = performance.now();
    this.state = 'starting';
    const child = execa(this.options.command, this.options.args, {
      env: this.options.env ?? {},
      extendEnv: true,
      cwd: this.options.cwd,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      detached: true,
      cleanup: false,
      windowsHide: true,
    });
    this.pid = child.pid ?? null;
    for (const stream of ['stdout', 'stderr'] as const) {
      const s = child[stream];
      s?.setEncoding('utf8');
      s?.on('data', (chunk: string) => this.onData(chunk, stream));
    }
    this.exitedPromise = child.then((r) => {
      const info: ExitInfo = {
        exitCode: typeof r.exitCode === 'number' ? r.exitCode : null,
        signal: r.signal ?? null,
        spawnError: this.pid === null || (r.failed && r.exitCode === undefined && !r.signal) ? r.originalMessage || r.shortMessage || 'could not start' : null,
      };
      this.exit = info;
      this.state = 'exited';
      this.emit('exit', info);
      return info;
    });

    if (this.pid === null) {
      const exit = await this.exitedPromise;
      return {
        ok: false,
        reason: 'spawn-failed',
        message: `Could not start ${this.options.command}: ${exit.spawnError ?? 'unknown error'}. Check that the program is installed and on the PATH, or give its full path in "command".`,
        exit,
        lastLines: [],
      };
    }

    const outcome = await this.waitUntilReady(t0, this.pid);
    if (outcome.ok) this.state = 'ready';
    return outcome;
  }

  private onData(chunk: string, stream: 'stdout' | 'stderr'): void {
    this.emit('output', chunk, stream);
    this.output.push(chunk, stream);
  }

  private async waitUntilReady(t0: number, pid: number): Promise<StartResult> {
    const { healthUrl, startTimeoutMs } = this.options;
    const interval = this.options.healthIntervalMs ?? 100;
    const deadline = t0 + startTimeoutMs;
    const exited = this.exitedPromise.then((e) => ({ exited: e }));
    const failExit = (exit: ExitInfo): StartResult => ({
      ok: false,
      reason: this.stopRequested ? 'stopped' : 'exited',
      message: this.stopRequested
        ? 'The server was stopped before it was ready.'
        : `The server exited during start-up with ${exit.signal ? `signal ${exit.signal}` : `exit code ${String(exit.exitCode)}`}, before it answered${healthUrl ? ` ${healthUrl}` : ''}. Its last log lines are below: they usually name the cause (a missing model file, a port in use, out of memory).`,
      exit,
      lastLines: this.lastLines(),
    });

    if (!healthUrl) {
      const settle = this.options.settleMs ?? 500;
      const r = await Promise.race([exited, sleep(settle).then(() => null)]);
      if (r) return failExit(r.exited);
      return { ok: true, pid, readyMs: performance.now() - t0 };
    }

    const fetchFn = this.options.fetch ?? fetch;
    let lastAnswer = 'no answer yet';
    for (;;) {
      if (this.exit) return failExit(this.exit);
      const remaining = deadline - performance.now();
      if (remaining <= 0) break;
      const probe = (async () => {
        try {
          const res = await fetchFn(healthUrl, { signal: AbortSignal.timeout(Math.ceil(Math.max(50, Math.min(2000, remaining)))) });
          await discardBody(res);
          lastAnswer = `HTTP ${res.status}`;
          return res.status === 200;
        } catch (err) {
          const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
          // A probe cut short by the deadline says nothing new: keep the last real answer.
          if (!timedOut || lastAnswer === 'no answer yet')
            lastAnswer = timedOut
              ? 'no answer (timed out)'
              : err instanceof Error
                ? err.cause instanceof Error
                  ? err.cause.message
                  : err.message
                : String(err);
          return false;
        }
      })();
      const r = await Promise.race([exited, probe]);
      if (typeof r === 'object') return failExit(r.exited);
      if (r) return { ok: true, pid, readyMs: performance.now() - t0 };
      const wait = await Promise.race([exited, sleep(Math.min(interval, Math.max(0, deadline - performance.now()))).then(() => null)]);
      if (wait) return failExit(wait.exited);
    }
    return {
      ok: false,
      reason: 'timeout',
      message: `The server did not become ready within ${startTimeoutMs < 10_000 ? (startTimeoutMs / 1000).toFixed(1) : Math.round(startTimeoutMs / 1000)} s: ${healthUrl} last said ${lastAnswer}. It is still running; stop it, or raise "startTimeoutSeconds" if loading the model takes longer.`,
      exit: null,
      lastLines: this.lastLines(),
    };
  }

  /** SIGTERM to the tree, wait up to the stop timeout, then SIGKILL whatever is left. */
  async stop(): Promise<StopResult> {
    const t0 = performance.now();
    this.stopRequested = true;
    const pid = this.pid;
    if (pid === null) return { how: 'already-exited', waitedMs: 0, pids: [] };
    if (this.exit) {
      // The leader is gone, but helpers it started may live on in its process group.
      if (!(await groupRunning(pid))) return { how: 'already-exited', waitedMs: 0, pids: [] };
      await signalTree(pid, [], 'SIGTERM');
      if (await waitFor(async () => !(await groupRunning(pid)), this.options.stopTimeoutMs))
        return { how: 'SIGTERM', waitedMs: performance.now() - t0, pids: [] };
      await signalTree(pid, [], 'SIGKILL');
      await waitFor(async () => !(await groupRunning(pid)), 2000);
      return { how: 'SIGKILL', waitedMs: performance.now() - t0, pids: [] };
    }
    this.state = 'stopping';
    const tree = await processTree(pid);
    await signalTree(pid, tree, 'SIGTERM');
    const timeout = this.options.stopTimeoutMs;
    const gone = await waitFor(() => this.treeGone(pid, tree), timeout);
    if (gone) return { how: 'SIGTERM', waitedMs: performance.now() - t0, pids: tree };
    // Children may have started meanwhile: read the tree again before the hard kill.
    const now = this.exit ? tree : [...new Set([...tree, ...(await processTree(pid))])];
    await signalTree(pid, now, 'SIGKILL');
    await waitFor(() => this.treeGone(pid, now), 2000);
    return { how: 'SIGKILL', waitedMs: performance.now() - t0, pids: now };
  }

  private async treeGone(root: number, tree: number[]): Promise<boolean> {
    if (!this.exit) return false;
    for (const p of tree) if (p !== root && (await isRunning(p))) return false;
    return true;
  }

  /** Synchronous SIGKILL of the process group, for when the host itself is exiting. */
  killNow(): void {
    if (this.pid === null || this.exit) return;
    signalQuietly(-this.pid, 'SIGKILL');
    signalQuietly(this.pid, 'SIGKILL');
  }
}

/**
 * Signals the server's process group, then each process of its tree that is not in that group (one
 * that left it). Each gets the signal once: llama-server takes a second SIGTERM as "terminate
 * immediately" and skips its shutdown (and the memory breakdown table it prints then).
 */
async function signalTree(root: number, pids: number[], signal: NodeJS.Signals): Promise<void> {
  signalQuietly(-root, signal);
  const outside = await Promise.all(pids.map(async (p) => ((await processGroupOf(p)) === root ? null : p)));
  for (const p of outside) if (p !== null) signalQuietly(p, signal);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= deadline) return false;
    await sleep(Math.min(25, Math.max(1, deadline - performance.now())));
  }
}
