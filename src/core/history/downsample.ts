/**
 * Min/max downsampling: each time bucket keeps its lowest and its highest point (with their own
 * times, in time order), so a peak is never averaged away — a 24 h view of 1 Hz data shows every
 * spike at its true height. Used by the history store to age old samples and to answer range queries.
 */

/** A series as two parallel columns: times (ms since the epoch, non-decreasing) and values. */
export interface Points {
  t: number[];
  v: number[];
}

/** One bucket's extremes. */
export interface MinMaxBucket {
  /** The bucket's start time (a multiple of its width). */
  start: number;
  minT: number;
  min: number;
  maxT: number;
  max: number;
}

/** Folds a point into a bucket (creating it when null); returns the bucket. */
export function foldPoint(bucket: MinMaxBucket | null, start: number, t: number, v: number): MinMaxBucket {
  if (bucket === null) return { start, minT: t, min: v, maxT: t, max: v };
  if (v < bucket.min) {
    bucket.min = v;
    bucket.minT = t;
  }
  if (v > bucket.max) {
    bucket.max = v;
    bucket.maxT = t;
  }
  return bucket;
}

/** The bucket's one or two points, in time order, appended to `out`. */
export function emitBucket(b: MinMaxBucket, out: Points): void {
  if (b.minT === b.maxT) {
    out.t.push(b.minT);
    out.v.push(b.max);
  } else if (b.minT < b.maxT) {
    out.t.push(b.minT, b.maxT);
    out.v.push(b.min, b.max);
  } else {
    out.t.push(b.maxT, b.minT);
    out.v.push(b.max, b.min);
  }
}

/**
 * At most `maxPoints` points of `points` between `from` and `to` (inclusive): all of them when they
 * fit, else the min and max of each of `maxPoints / 2` equal buckets.
 */
export function minMaxDownsample(points: Points, from: number, to: number, maxPoints: number): Points {
  const { t, v } = points;
  const lo = lowerBound(t, from);
  const hi = upperBound(t, to);
  const n = hi - lo;
  if (n <= maxPoints || maxPoints < 2) return { t: t.slice(lo, hi), v: v.slice(lo, hi) };
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const width = Math.max(1, (to - from) / buckets);
  const out: Points = { t: [], v: [] };
  let current: MinMaxBucket | null = null;
  for (let i = lo; i < hi; i++) {
    const ti = t[i];
    const vi = v[i];
    if (ti === undefined || vi === undefined) break;
    const start = Math.min(buckets - 1, Math.floor((ti - from) / width));
    if (current !== null && current.start !== start) {
      emitBucket(current, out);
      current = null;
    }
    current = foldPoint(current, start, ti, vi);
  }
  if (current !== null) emitBucket(current, out);
  return out;
}

/** First index whose time is ≥ `x`. */
export function lowerBound(t: ArrayLike<number>, x: number, from = 0): number {
  let lo = from;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const tm = t[mid];
    if (tm !== undefined && tm < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose time is > `x`. */
export function upperBound(t: ArrayLike<number>, x: number, from = 0): number {
  let lo = from;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const tm = t[mid];
    if (tm !== undefined && tm <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
