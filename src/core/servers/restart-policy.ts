/**
 * When to restart a server that failed: after a backoff that starts at 1 s and doubles up to 5 min
 * (back to 1 s once a run has lasted 10 min), and at most `limit` times in any hour.
 */
export const FIRST_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;
/** A run this long was healthy: the next failure starts the backoff over. */
const HEALTHY_RUN_MS = 10 * 60_000;

export class RestartPolicy {
  readonly limit: number;
  private readonly times: number[] = [];
  private backoff = FIRST_BACKOFF_MS;

  constructor(limitPerHour: number) {
    this.limit = limitPerHour;
  }

  /** The delay before the next restart, or null when none is allowed now; `ranMs`: how long the run that failed lasted. */
  next(now: number, ranMs: number): number | null {
    while (this.times.length && (this.times[0] ?? 0) <= now - HOUR_MS) this.times.shift();
    if (this.times.length >= this.limit) return null;
    if (ranMs >= HEALTHY_RUN_MS) this.backoff = FIRST_BACKOFF_MS;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.times.push(now);
    return delay;
  }
}
