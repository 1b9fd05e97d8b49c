/**
 * One GPU's used memory over time, folded as it streams in into fixed-width time buckets (mean, min,
 * max, first and last time) whose width doubles whenever there are more than `maxBuckets` of them:
 * a day at 1 Hz or ten million lines take the same bounded memory, and the change-point analysis
 * (change-points.ts) always works on at most `maxBuckets` points. Each bucket keeps the process lists
 * of its first, last and highest sample, so a segment can name the processes that explain it.
 */

/** A process on the GPU in one sample (MiB; null where the driver gave no figure). */
export interface TrendProcess {
  pid: number;
  name: string | null;
  usedMiB: number | null;
}

export interface BucketSeriesOptions {
  /** The narrowest bucket (ms); default 1000. */
  minBucketMs?: number;
  /** Buckets kept at most; default 4096. */
  maxBuckets?: number;
}

/** The buckets' columns, oldest first; only buckets with samples are kept. */
export interface Buckets {
  widthMs: number;
  /** Time of the bucket's first and last sample (ms since the epoch). */
  first: number[];
  last: number[];
  /** MiB. */
  mean: number[];
  min: number[];
  max: number[];
  count: number[];
  /** The process lists of the bucket's first, last and highest sample (null when the input had none). */
  procFirst: Array<TrendProcess[] | null>;
  procLast: Array<TrendProcess[] | null>;
  procMax: Array<TrendProcess[] | null>;
  /** Time of the bucket's highest sample. */
  maxAt: number[];
}

export class BucketSeries {
  readonly minBucketMs: number;
  readonly maxBuckets: number;
  private b: Buckets;
  private sum: number[] = [];
  /** The GPU's total memory (MiB) as last seen. */
  totalMiB: number | null = null;
  samples = 0;
  lastTime = -Infinity;

  constructor(options: BucketSeriesOptions = {}) {
    this.minBucketMs = options.minBucketMs ?? 1000;
    this.maxBuckets = Math.max(16, options.maxBuckets ?? 4096);
    this.b = emptyBuckets(this.minBucketMs);
  }

  /**
   * Adds a sample. Samples must come in time order: one earlier than the last is refused (false) and
   * the caller says so.
   */
  add(t: number, usedMiB: number, totalMiB: number | null, processes: TrendProcess[] | null = null): boolean {
    if (!(t >= this.lastTime) || !Number.isFinite(usedMiB)) return false;
    this.lastTime = t;
    this.samples++;
    if (totalMiB !== null) this.totalMiB = totalMiB;
    const b = this.b;
    const n = b.first.length;
    const key = Math.floor(t / b.widthMs);
    if (n > 0 && Math.floor((b.first[n - 1] as number) / b.widthMs) === key) {
      const i = n - 1;
      this.sum[i] = (this.sum[i] as number) + usedMiB;
      b.count[i] = (b.count[i] as number) + 1;
      b.mean[i] = (this.sum[i] as number) / (b.count[i] as number);
      b.last[i] = t;
      if (processes) b.procLast[i] = processes;
      if (usedMiB < (b.min[i] as number)) b.min[i] = usedMiB;
      if (usedMiB > (b.max[i] as number)) {
        b.max[i] = usedMiB;
        b.maxAt[i] = t;
        if (processes) b.procMax[i] = processes;
      }
      return true;
    }
    b.first.push(t);
    b.last.push(t);
    b.mean.push(usedMiB);
    b.min.push(usedMiB);
    b.max.push(usedMiB);
    b.maxAt.push(t);
    b.count.push(1);
    b.procFirst.push(processes);
    b.procLast.push(processes);
    b.procMax.push(processes);
    this.sum.push(usedMiB);
    if (b.first.length > this.maxBuckets) this.widen();
    return true;
  }

  /** The buckets so far (the same arrays: read them, do not keep them across `add`). */
  buckets(): Buckets {
    return this.b;
  }

  /** Doubles the width (and more, until the buckets fit), merging neighbours. */
  private widen(): void {
    let width = this.b.widthMs;
    const old = this.b;
    const span = (old.last[old.last.length - 1] as number) - (old.first[0] as number);
    do width *= 2;
    while (span / width > this.maxBuckets);
    const b = emptyBuckets(width);
    const sums: number[] = [];
    for (let i = 0; i < old.first.length; i++) {
      const t = old.first[i] as number;
      const key = Math.floor(t / width);
      const j = b.first.length - 1;
      const s = (old.mean[i] as number) * (old.count[i] as number);
      if (j >= 0 && Math.floor((b.first[j] as number) / width) === key) {
        sums[j] = (sums[j] as number) + s;
        b.count[j] = (b.count[j] as number) + (old.count[i] as number);
        b.mean[j] = (sums[j] as number) / (b.count[j] as number);
        b.last[j] = old.last[i] as number;
        b.procLast[j] = old.procLast[i] ?? b.procLast[j] ?? null;
        if ((old.min[i] as number) < (b.min[j] as number)) b.min[j] = old.min[i] as number;
        if ((old.max[i] as number) > (b.max[j] as number)) {
          b.max[j] = old.max[i] as number;
          b.maxAt[j] = old.maxAt[i] as number;
          b.procMax[j] = old.procMax[i] ?? b.procMax[j] ?? null;
        }
        continue;
      }
      b.first.push(t);
      b.last.push(old.last[i] as number);
      b.mean.push(old.mean[i] as number);
      b.min.push(old.min[i] as number);
      b.max.push(old.max[i] as number);
      b.maxAt.push(old.maxAt[i] as number);
      b.count.push(old.count[i] as number);
      b.procFirst.push(old.procFirst[i] ?? null);
      b.procLast.push(old.procLast[i] ?? null);
      b.procMax.push(old.procMax[i] ?? null);
      sums.push(s);
    }
    this.b = b;
    this.sum = sums;
  }
}

function emptyBuckets(widthMs: number): Buckets {
  return { widthMs, first: [], last: [], mean: [], min: [], max: [], count: [], procFirst: [], procLast: [], procMax: [], maxAt: [] };
}
