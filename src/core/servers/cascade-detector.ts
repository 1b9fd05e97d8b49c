/**
 * A CUDA-error cascade: error lines coming faster than a rate, for long enough — by default at
 * least 5 in each of 3 consecutive seconds (field note 001: 4,759 errors in 4 minutes, 40–50 a
 * second, after a speech burst took a 4 GB card to 91 %). One error, or a short burst, is not a
 * cascade. Time comes from the clock given (a fake one in tests); seconds are whole clock seconds.
 */

export interface CascadeRule {
  /** Errors per second at or above which a second counts as "in the cascade". */
  perSecond: number;
  /** How many consecutive such seconds make a cascade. */
  seconds: number;
}

export const DEFAULT_CASCADE_RULE: CascadeRule = { perSecond: 5, seconds: 3 };

export interface Cascade {
  /** When its first counted second began (ms since the epoch). */
  startedAt: number;
  /** When it was declared. */
  detectedAt: number;
  /** Errors in the seconds that made it. */
  errors: number;
  /** Their mean rate per second. */
  perSecond: number;
}

export class CascadeDetector {
  private readonly counts = new Map<number, number>();
  private active = false;
  /** Errors seen in the cascade now running (0 when none runs). */
  cascadeErrors = 0;

  private readonly rule: CascadeRule;
  private readonly now: () => number;

  constructor(rule: CascadeRule = DEFAULT_CASCADE_RULE, now: () => number = Date.now) {
    this.rule = rule;
    this.now = now;
    if (!(rule.perSecond > 0) || !Number.isInteger(rule.seconds) || rule.seconds < 1)
      throw new Error('a cascade rule needs a positive rate and a whole number of seconds');
  }

  get inCascade(): boolean {
    return this.active;
  }

  /** Counts `n` error lines now; returns the cascade when this makes one (once per cascade), else null. */
  record(n = 1): Cascade | null {
    const t = this.now();
    const second = Math.floor(t / 1000);
    this.counts.set(second, (this.counts.get(second) ?? 0) + n);
    for (const s of this.counts.keys()) if (s <= second - this.rule.seconds) this.counts.delete(s);
    const window: number[] = [];
    for (let s = second - this.rule.seconds + 1; s <= second; s++) window.push(this.counts.get(s) ?? 0);
    // A cascade ends once a whole second passes below the rate.
    if (this.active && (this.counts.get(second - 1) ?? 0) < this.rule.perSecond && (this.counts.get(second) ?? 0) < this.rule.perSecond) {
      this.active = false;
      this.cascadeErrors = 0;
    }
    if (this.active) {
      this.cascadeErrors += n;
      return null;
    }
    if (!window.every((c) => c >= this.rule.perSecond)) return null;
    this.active = true;
    const errors = window.reduce((a, b) => a + b, 0);
    this.cascadeErrors = errors;
    const startedAt = (second - this.rule.seconds + 1) * 1000;
    return { startedAt, detectedAt: t, errors, perSecond: errors / Math.max(1, (t - startedAt) / 1000) };
  }
}
