/**
 * The NVML source as the extension host and the CLI use it: every driver call (init, each sample,
 * shutdown) runs in a worker process that owns the koffi handle. Each sample and the init have a
 * timeout; a call that has not returned by then makes sample() throw DriverNotAnsweringError at once
 * (and again at every sample until the call returns), so a hung driver costs the caller nothing.
 *
 * A process rather than a thread: a thread inside a driver call cannot be stopped, and the process
 * that holds it cannot exit until the call returns (Node joins its threads at exit, even in
 * process.exit()), so Ctrl-C on the CLI and VS Code's deactivation waited for the driver. A worker
 * process is killed (SIGKILL) when it is let go. One stuck in the kernel, where even SIGKILL waits
 * for the call, is counted until it is gone, and no new one starts while MAX_ABANDONED_WORKERS are.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.ts';
import { DriverNotAnsweringError } from './not-answering.ts';
import type { FromNvmlWorker, NvmlWorkerData, ToNvmlWorker } from './nvml-worker-protocol.ts';
import type { GpuSample, GpuSource, SampleOptions } from './types.ts';

declare const __dirname: string | undefined;

export const DEFAULT_NVML_INIT_TIMEOUT_MS = 20_000;
export const DEFAULT_NVML_SAMPLE_TIMEOUT_MS = 3_000;
/** How long a closing worker gets to shut NVML down before it is killed. */
const DISPOSE_GRACE_MS = 500;
/** Killed workers that have not gone yet (stuck in the kernel) past which no new one is started. */
export const MAX_ABANDONED_WORKERS = 2;

export interface NvmlWorkerOptions {
  /** The `vramGuard.nvmlLibraryPath` setting; tried first. */
  libraryPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  log?: (message: string) => void;
  initTimeoutMs?: number;
  sampleTimeoutMs?: number;
  /** Aborting it before NVML is ready kills the worker, and the open resolves at once (not ok). */
  signal?: AbortSignal | undefined;
  /** The worker's script; default: dist/nvml-worker.cjs beside the bundle, or nvml-worker.ts beside this file. */
  workerFile?: string | URL;
  /**
   * The signal that lets a worker go. Tests pass one that does not end it (SIGCONT) to stand for a
   * process stuck in the kernel, which even SIGKILL leaves alive until the driver call returns.
   */
  abandonSignal?: NodeJS.Signals;
}

export type NvmlWorkerOpenResult = { ok: true; source: NvmlWorkerSource } | { ok: false; reason: string };

/** Where the worker's script is: beside the bundle (dist/) when bundled, else beside this source file. */
export function nvmlWorkerFile(): string | URL {
  return typeof __dirname === 'string' ? join(__dirname, 'nvml-worker.cjs') : new URL('./nvml-worker.ts', import.meta.url);
}

/** Every worker process not yet gone, and those of them let go (killed, perhaps stuck in the kernel). */
const alive = new Set<ChildProcess>();
const abandoned = new Set<ChildProcess>();
/** The signal each worker is let go with (SIGKILL, or a test's stand-in). */
const abandonSignals = new WeakMap<ChildProcess, NodeJS.Signals>();
let killOnExit = false;

/** The PIDs of the worker processes that were let go but have not gone yet. */
export function abandonedNvmlWorkers(): number[] {
  return [...abandoned].map((c) => c.pid ?? 0);
}

function startWorker(file: string | URL, abandonSignal: NodeJS.Signals): ChildProcess {
  // In the editor the runtime is Electron, which runs a script as Node only when told so.
  const env = process.versions.electron ? { ...process.env, ELECTRON_RUN_AS_NODE: '1' } : process.env;
  const child = fork(typeof file === 'string' ? file : fileURLToPath(file), [], {
    execArgv: [],
    env,
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  alive.add(child);
  child.once('exit', () => {
    alive.delete(child);
    abandoned.delete(child);
  });
  abandonSignals.set(child, abandonSignal);
  if (!killOnExit) {
    killOnExit = true;
    // Leaving (process.exit included) never waits for a worker: each is killed on the way out.
    process.on('exit', () => {
      for (const c of alive) c.kill('SIGKILL');
    });
  }
  return child;
}

/** Lets go of a worker that may be stuck in a driver call: killed, and no longer kept waited for. */
function abandon(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || !alive.has(child)) return;
  abandoned.add(child);
  child.kill(abandonSignals.get(child) ?? 'SIGKILL');
  if (child.connected) child.disconnect();
  child.stderr?.destroy();
  child.unref();
}

/** What a worker wrote to stderr (a crash's message), for the reason it stopped. */
function crashMessage(child: ChildProcess): () => string {
  let written = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    if (written.length < 4000) written += text.slice(0, 4000 - written.length);
  });
  child.stderr?.on('error', () => {});
  return () => {
    const lines = written
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    // A crash prints a stack: the line that names the error says most.
    const error = lines.find((l) => /^[A-Za-z]*Error\b/.test(l));
    return error ? `: ${error}` : lines.length ? `: ${lines.slice(-3).join(' ')}` : '';
  };
}

/** Starts the worker and waits (at most the init timeout) for NVML to load and initialise. */
export function openNvmlWorker(options: NvmlWorkerOptions = {}): Promise<NvmlWorkerOpenResult> {
  const log = options.log ?? (() => {});
  const initTimeoutMs = options.initTimeoutMs ?? DEFAULT_NVML_INIT_TIMEOUT_MS;
  if (options.signal?.aborted) return Promise.resolve({ ok: false, reason: 'stopped before NVML was opened' });
  if (abandoned.size >= MAX_ABANDONED_WORKERS) {
    return Promise.resolve({
      ok: false,
      reason: `${abandoned.size} earlier NVML worker processes (PIDs ${abandonedNvmlWorkers().join(', ')}) are still stuck in the driver after being killed: no new one starts until one of them is gone; VRAM Guard tries again later`,
    });
  }
  const data: NvmlWorkerData = { libraryPath: options.libraryPath, env: { ...(options.env ?? process.env) }, platform: options.platform ?? process.platform };
  let child: ChildProcess;
  try {
    child = startWorker(options.workerFile ?? nvmlWorkerFile(), options.abandonSignal ?? 'SIGKILL');
  } catch (err) {
    return Promise.resolve({ ok: false, reason: `the NVML worker could not start: ${errorMessage(err)}` });
  }
  const crashText = crashMessage(child);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: NvmlWorkerOpenResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      child.off('message', onMessage);
      child.off('error', onError);
      child.off('close', onClose);
      if (!result.ok) abandon(child);
      resolve(result);
    };
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          reason: `nvmlInit did not return within ${initTimeoutMs} ms: the driver is not answering (a GPU falling off the bus or a driver reload does this); VRAM Guard tries again later`,
        }),
      initTimeoutMs,
    );
    const onAbort = (): void => finish({ ok: false, reason: 'stopped before NVML was ready' });
    const onMessage = (message: FromNvmlWorker): void => {
      if (message.type === 'log') log(message.message);
      else if (message.type === 'opened') {
        finish(
          message.ok
            ? { ok: true, source: new NvmlWorkerSource(child, message.description, options.sampleTimeoutMs ?? DEFAULT_NVML_SAMPLE_TIMEOUT_MS, log) }
            : { ok: false, reason: message.reason },
        );
      }
    };
    const onError = (err: Error): void => finish({ ok: false, reason: `the NVML worker failed: ${err.message}` });
    // 'close', not 'exit': by then all it wrote to stderr has been read.
    const onClose = (code: number | null, signal: string | null): void =>
      finish({ ok: false, reason: `the NVML worker stopped (${signal ? `signal ${signal}` : `exit code ${code}`}) before NVML was ready${crashText()}` });
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', onMessage);
    child.on('error', onError);
    child.on('close', onClose);
    child.send({ type: 'open', data } satisfies ToNvmlWorker);
  });
}

interface Pending {
  resolve: (sample: GpuSample) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class NvmlWorkerSource implements GpuSource {
  readonly kind = 'nvml' as const;
  readonly description: string;

  private readonly child: ChildProcess;
  private readonly sampleTimeoutMs: number;
  private readonly log: (message: string) => void;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** A sample request that timed out and has not come back: no other is sent until it does. */
  private stuck: { id: number; since: number } | null = null;
  private broken: string | null = null;
  private disposed = false;
  private disposedAck: (() => void) | null = null;

  constructor(child: ChildProcess, description: string, sampleTimeoutMs: number, log: (message: string) => void) {
    this.child = child;
    this.description = description;
    this.sampleTimeoutMs = sampleTimeoutMs;
    this.log = log;
    child.on('message', (m: FromNvmlWorker) => this.onMessage(m));
    child.on('error', (err) => this.fail(`the NVML worker failed: ${err.message}`));
    child.on('exit', (code, signal) => {
      this.disposedAck?.();
      if (!this.disposed) this.fail(`the NVML worker stopped (${signal ? `signal ${signal}` : `exit code ${code}`})`);
    });
  }

  /** The worker process's ID. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether a driver call has not returned; since when (ms since the epoch, the caller's clock). */
  get notAnsweringSince(): number | null {
    return this.stuck?.since ?? null;
  }

  sample(timestamp: number, options?: SampleOptions): Promise<GpuSample> {
    if (this.disposed) return Promise.reject(new Error('NVML source is closed'));
    if (this.broken) return Promise.reject(new Error(this.broken));
    if (this.stuck) return Promise.reject(new DriverNotAnsweringError('an NVML sample', this.stuck.since, this.sampleTimeoutMs));
    const id = ++this.nextId;
    return new Promise<GpuSample>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The call is still in the driver: keep its id, so its late answer is recognised and dropped.
        this.pending.delete(id);
        this.stuck = { id, since: timestamp };
        this.log(`an NVML sample has not returned after ${this.sampleTimeoutMs} ms: the driver is not answering`);
        reject(new DriverNotAnsweringError('an NVML sample', timestamp, this.sampleTimeoutMs));
      }, this.sampleTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.post({ type: 'sample', id, timestamp, options });
    });
  }

  /**
   * Closes NVML in the worker and lets the worker go. Never waits for the driver: a worker with a
   * call in flight is killed at once; an idle one gets DISPOSE_GRACE_MS for nvmlShutdown.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const busy = this.pending.size > 0 || this.stuck !== null || this.broken !== null || !this.child.connected;
    this.rejectAll(new Error('NVML source is closed'));
    if (!busy) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DISPOSE_GRACE_MS);
        this.disposedAck = () => {
          clearTimeout(timer);
          resolve();
        };
        this.post({ type: 'dispose' });
      });
    }
    abandon(this.child);
  }

  private post(message: ToNvmlWorker): void {
    if (!this.child.connected) {
      this.fail('the NVML worker is gone');
      return;
    }
    this.child.send(message);
  }

  private onMessage(message: FromNvmlWorker): void {
    if (message.type === 'log') {
      this.log(message.message);
      return;
    }
    if (message.type === 'disposed') {
      this.disposedAck?.();
      return;
    }
    if (message.type !== 'sample') return;
    if (this.stuck?.id === message.id) {
      this.log('the NVML call that was not answering has returned; sampling again');
      this.stuck = null;
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message.sample);
    else pending.reject(new Error(message.message));
  }

  private fail(reason: string): void {
    if (this.broken) return;
    this.broken = reason;
    this.stuck = null;
    this.rejectAll(new Error(reason));
  }

  private rejectAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
