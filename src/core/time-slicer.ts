/**
 * Long loops on the extension host's thread give the event loop a turn every few milliseconds, so a
 * big import or load never freezes the editor: `if (slicer.due()) await slicer.yield()`.
 */
export class TimeSlicer {
  private last = performance.now();
  private readonly budgetMs: number;
  private readonly signal: AbortSignal | undefined;

  constructor(options: { budgetMs?: number; signal?: AbortSignal } = {}) {
    this.budgetMs = options.budgetMs ?? 8;
    this.signal = options.signal;
  }

  /** Whether the loop has run its budget since the last turn given. */
  due(): boolean {
    return performance.now() - this.last >= this.budgetMs;
  }

  /** Lets timers and I/O run, then throws the signal's reason when it was aborted meanwhile. */
  async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
    this.signal?.throwIfAborted();
  }
}
