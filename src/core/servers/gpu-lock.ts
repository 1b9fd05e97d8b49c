/**
 * Serialises GPU-heavy work: tasks marked `exclusive` take the lock for their lifetime, so a second
 * one waits until the first stops. First come, first served. With `fileFor`, a task holding it also
 * takes its GPU's lock file (gpu-lock-file.ts), shared with every VS Code window and
 * `vram-guard run --exclusive`.
 */
import type { FileLockHolder, GpuFileLock } from './gpu-lock-file.ts';
export interface LockHolder {
  name: string;
  since: number;
}

export interface GpuLockOptions {
  /** The cross-process lock of a GPU. */
  fileFor?: (gpu: number) => GpuFileLock;
}

export interface AcquireOptions {
  /** The GPU the task runs on: its lock file is taken too. */
  gpu?: number;
  /** Told who holds the lock file while this waits for it (another window, a `vram-guard run`). */
  onWait?: (holder: FileLockHolder) => void;
}

export class GpuLock {
  private holder: LockHolder | null = null;
  private readonly fileFor: ((gpu: number) => GpuFileLock) | null;

  constructor(options: GpuLockOptions = {}) {
    this.fileFor = options.fileFor ?? null;
  }
  private readonly queue: Array<{ name: string; grant: () => void }> = [];

  get current(): LockHolder | null {
    return this.holder;
  }

  get waiting(): string[] {
    return this.queue.map((q) => q.name);
  }

  /**
   * Resolves with a release function once `name` holds the lock. `signal` aborts the wait (the
   * task was cancelled while queued).
   */
  async acquire(name: string, signal?: AbortSignal, options: AcquireOptions = {}): Promise<() => void> {
    const release = await this.acquireHere(name, signal);
    if (!this.fileFor || options.gpu === undefined) return release;
    try {
      const releaseFile = await this.fileFor(options.gpu).acquire(name, options.onWait, signal);
      return () => {
        void releaseFile();
        release();
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  private acquireHere(name: string, signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const grant = () => {
        this.holder = { name, since: Date.now() };
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.holder = null;
          this.queue.shift()?.grant();
        });
      };
      if (!this.holder) return grant();
      const entry = { name, grant };
      this.queue.push(entry);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.queue.indexOf(entry);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new Error(`"${name}" stopped waiting for the GPU lock`));
        },
        { once: true },
      );
    });
  }
}
