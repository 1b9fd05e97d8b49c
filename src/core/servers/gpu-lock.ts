/**
 * Serialises GPU-heavy work: tasks marked `exclusive` take the lock for their lifetime, so a second
 * one waits until the first stops. First come, first served within a process; across processes
 * (every VS Code window shares the GPU) through the OS lock of `gpu.lock` in the runtime folder
 * (file-lock.ts): the kernel drops it when the window holding it closes or dies, and a server the
 * window started does not inherit it. Waiting for another window has no bound of its own: it ends
 * when that window's task stops or when the waiting task is cancelled.
 */
import { dirname, join } from 'node:path';
import type { Clock } from '../clock.ts';
import { acquireFileLock, type HeldFileLock, lockHolder } from '../file-lock.ts';
import { privateFolder, runtimeFolder } from './runtime-folder.ts';

export interface LockHolder {
  name: string;
  since: number;
  /** Set when the holder is another process (another VS Code window). */
  pid?: number;
}

export const GPU_LOCK_FILE = 'gpu.lock';

/** $XDG_RUNTIME_DIR/vram-guard/gpu.lock, else <tmp>/vram-guard-<uid>/gpu.lock. */
export function gpuLockPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(runtimeFolder(env), GPU_LOCK_FILE);
}

export interface GpuLockOptions {
  /** The lock file shared with other processes; without one the lock holds within this process only. */
  path?: string;
  /** Paces the wait for another process (tests pass a fake clock). */
  clock?: Clock;
  /** The longest pause between two tries for another process's lock, in ms (default 500). */
  maxPollMs?: number;
}

export class GpuLock {
  private holder: LockHolder | null = null;
  private readonly queue: Array<{ name: string; grant: () => void }> = [];
  private readonly options: GpuLockOptions;

  constructor(options: GpuLockOptions = {}) {
    this.options = options;
  }

  /** The holder in this process. */
  get current(): LockHolder | null {
    return this.holder;
  }

  get waiting(): string[] {
    return this.queue.map((q) => q.name);
  }

  /** The holder in another process, when no task of this one holds it. */
  async elsewhere(): Promise<LockHolder | null> {
    const path = this.options.path;
    if (!path || this.holder) return null;
    if (!(await privateFolder(dirname(path), false, 'exclusive tasks').catch(() => false))) return null;
    const h = await lockHolder(path).catch(() => null);
    return h ? { name: h.name, since: h.since, pid: h.pid } : null;
  }

  /**
   * Resolves with a release function once `name` holds the lock. `signal` aborts the wait (the
   * task was cancelled while queued).
   */
  acquire(name: string, signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const stoppedWaiting = () => new Error(`"${name}" stopped waiting for the GPU lock`);
      const next = () => {
        this.holder = null;
        this.queue.shift()?.grant();
      };
      const grant = () => {
        this.holder = { name, since: Date.now() };
        void this.crossProcess(name, signal).then(
          (os) => {
            let released = false;
            resolve(() => {
              if (released) return;
              released = true;
              void os?.release().catch(() => {});
              next();
            });
          },
          (err: unknown) => {
            next();
            reject(signal?.aborted ? stoppedWaiting() : err);
          },
        );
      };
      if (!this.holder) return grant();
      const entry = { name, grant };
      this.queue.push(entry);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.queue.indexOf(entry);
          if (i < 0) return;
          this.queue.splice(i, 1);
          reject(stoppedWaiting());
        },
        { once: true },
      );
    });
  }

  private async crossProcess(name: string, signal: AbortSignal | undefined): Promise<HeldFileLock | null> {
    const path = this.options.path;
    if (!path) return null;
    await privateFolder(dirname(path), true, 'exclusive tasks');
    return acquireFileLock(path, { waitMs: Number.POSITIVE_INFINITY, maxPollMs: this.options.maxPollMs ?? 500, clock: this.options.clock, signal, name });
  }
}
