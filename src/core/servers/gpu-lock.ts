/**
 * Serialises GPU-heavy work: tasks marked `exclusive` take the lock for their lifetime, so a second
 * one waits until the first stops. First come, first served.
 */
export interface LockHolder {
  name: string;
  since: number;
}

export class GpuLock {
  private holder: LockHolder | null = null;
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
  acquire(name: string, signal?: AbortSignal): Promise<() => void> {
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
