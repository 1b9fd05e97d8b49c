/**
 * After a step, memory takes a while to fall (a process exits, the driver frees its allocations;
 * Ollama itself waits up to 5 s for a runner to go). Poll until used memory stops falling, or the
 * timeout passes.
 */
import type { Clock } from '../clock.ts';

export interface SettleOptions {
  readUsed: () => Promise<number | null>;
  clock: Clock;
  intervalMs: number;
  timeoutMs: number;
  /** Reads in a row that must not fall further (by more than `toleranceBytes`). */
  stableReads?: number;
  toleranceBytes?: number;
}

export interface Settled {
  usedAfter: number | null;
  /** false: the timeout passed while memory was still falling. */
  settled: boolean;
  waitedMs: number;
}

export async function waitForSettle(options: SettleOptions): Promise<Settled> {
  const { clock, intervalMs, timeoutMs } = options;
  const stableReads = options.stableReads ?? 2;
  const tolerance = options.toleranceBytes ?? 0;
  const start = clock.now();
  const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));
  let last = await options.readUsed();
  let stable = 0;
  for (;;) {
    if (clock.now() - start >= timeoutMs) return { usedAfter: last, settled: false, waitedMs: clock.now() - start };
    await sleep(Math.min(intervalMs, timeoutMs - (clock.now() - start)));
    const now = await options.readUsed();
    if (now === null || last === null || now >= last - tolerance) stable++;
    else stable = 0;
    last = now;
    if (stable >= stableReads) return { usedAfter: last, settled: true, waitedMs: clock.now() - start };
  }
}
