/**
 * The NVML source as the extension host and the CLI use it: every driver call (init, each sample,
 * shutdown) runs in a worker thread that owns the koffi handle. Each sample and the init have a
 * timeout; a call that has not returned by then makes sample() throw DriverNotAnsweringError at once
 * (and again at every sample until the call returns), so a hung driver costs this thread nothing.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DriverNotAnsweringError } from './not-answering.ts';
import type { FromNvmlWorker, NvmlWorkerData, ToNvmlWorker } from './nvml-worker-protocol.ts';
import type { GpuSample, GpuSource, SampleOptions } from './types.ts';

declare const __dirname: string | undefined;

export const DEFAULT_NVML_INIT_TIMEOUT_MS = 20_000;
export const DEFAULT_NVML_SAMPLE_TIMEOUT_MS = 3_000;
/** How long a closing worker gets to shut NVML down before it is terminated. */
const DISPOSE_GRACE_MS = 1_000;

export interface NvmlWorkerOptions {
  /** The `vramGuard.nvmlLibraryPath` setting; tried first. */
  libraryPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  log?: (message: string) => void;
  initTimeoutMs?: number;
  sampleTimeoutMs?: number;
  /** The worker's script; default: dist/nvml-worker.cjs beside the bundle, or nvml-worker.ts beside this file. */
  workerFile?: string | URL;
}

export type NvmlWorkerOpenResult = { ok: true; source: NvmlWorkerSource } | { ok: false; reason: string };

/** Where the worker's script is: beside the bundle (dist/) when bundled, else beside this source file. */
export function nvmlWorkerFile(): string | URL {
  return typeof __dirname === 'string' ? join(__dirname, 'nvml-worker.cjs') : new URL('./nvml-worker.ts', import.meta.url);
}

/** Starts the worker and waits (at most the init timeout) for NVML to load and initialise. */
export function openNvmlWorker(options: NvmlWorkerOptions = {}): Promise<NvmlWorkerOpenResult> {
  const log = options.log ?? (() => {});
  const initTimeoutMs = options.initTimeoutMs ?? DEFAULT_NVML_INIT_TIMEOUT_MS;
  const data: NvmlWorkerData = { libraryPath: options.libraryPath, env: { ...(options.env ?? process.env) }, platform: options.platform ?? process.platform };
  let worker: Worker;
  try {
    worker = new Worker(options.workerFile ?? nvmlWorkerFile(), { workerData: data, stdout: false, stderr: false });
  } catch (err) {
    return Promise.resolve({ ok: false, reason: `the NVML worker could not start: ${err instanceof Error ? err.message : String(err)}` });
  }
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: NvmlWorkerOpenResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (!result.ok) abandon(worker);
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
    const onMessage = (message: FromNvmlWorker): void => {
      if (message.type === 'log') log(message.message);
      else if (message.type === 'opened') {
        finish(
          message.ok
            ? { ok: true, source: new NvmlWorkerSource(worker, message.description, options.sampleTimeoutMs ?? DEFAULT_NVML_SAMPLE_TIMEOUT_MS, log) }
            : { ok: false, reason: message.reason },
        );
      }
    };
    const onError = (err: Error): void => finish({ ok: false, reason: `the NVML worker failed: ${err.message}` });
    const onExit = (code: number): void => finish({ ok: false, reason: `the NVML worker stopped (exit code ${code}) before NVML was ready` });
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** Lets go of a worker that may be stuck in a driver call: it cannot be interrupted, only left behind. */
function abandon(worker: Worker): void {
  worker.unref();
  void worker.terminate().catch(() => {});
}

interface Pending {
  resolve: (sample: GpuSample) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class NvmlWorkerSource implements GpuSource {
  readonly kind = 'nvml' as const;
  readonly description: string;

  private readonly worker: Worker;
  private readonly sampleTimeoutMs: number;
  private readonly log: (message: string) => void;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** A sample request that timed out and has not come back: no other is sent until it does. */
  private stuck: { id: number; since: number } | null = null;
  private broken: string | null = null;
  private disposed = false;
  private disposedAck: (() => void) | null = null;

  constructor(worker: Worker, description: string, sampleTimeoutMs: number, log: (message: string) => void) {
    this.worker = worker;
    this.description = description;
    this.sampleTimeoutMs = sampleTimeoutMs;
    this.log = log;
    worker.on('message', (m: FromNvmlWorker) => this.onMessage(m));
    worker.on('error', (err) => this.fail(`the NVML worker failed: ${err.message}`));
    worker.on('exit', (code) => {
      this.disposedAck?.();
      if (!this.disposed) this.fail(`the NVML worker stopped (exit code ${code})`);
    });
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

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.rejectAll(new Error('NVML source is closed'));
    if (this.stuck || this.broken) {
      abandon(this.worker);
      return;
    }
    // nvmlShutdown runs in the worker too: wait for it a moment, never for a driver that does not answer.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, DISPOSE_GRACE_MS);
      this.disposedAck = () => {
        clearTimeout(timer);
        resolve();
      };
      this.post({ type: 'dispose' });
    });
    abandon(this.worker);
  }

  private post(message: ToNvmlWorker): void {
    this.worker.postMessage(message);
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
