/**
 * One time series in memory: every point at full rate for the recent window, min/max buckets for
 * older data (so peaks stay exact), and nothing older than the retention. Aging follows the newest
 * point added, not the wall clock, so a loaded file and a live feed age the same way.
 */
import { emitBucket, foldPoint, lowerBound, minMaxDownsample, type MinMaxBucket, type Points } from './downsample.ts';

export interface SeriesOptions {
  /** Points newer than this (relative to the newest) are kept at full rate. */
  recentMs: number;
  /** Width of the min/max buckets older points are folded into. */
  bucketMs: number;
  /** Points older than this (relative to the newest) are dropped. */
  retentionMs: number;
}

export const DEFAULT_SERIES_OPTIONS: SeriesOptions = { recentMs: 60 * 60_000, bucketMs: 10_000, retentionMs: 7 * 24 * 3_600_000 };

/** Columns with a start offset, so dropping from the front is cheap. */
class Columns {
  t: number[] = [];
  v: number[] = [];
  head = 0;

  get length(): number {
    return this.t.length - this.head;
  }

  push(t: number, v: number): void {
    this.t.push(t);
    this.v.push(v);
  }

  /** Drops the first `n` live points. */
  drop(n: number): void {
    this.head += n;
    if (this.head > 4096 && this.head * 2 > this.t.length) {
      this.t = this.t.slice(this.head);
      this.v = this.v.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops the live points at or after `t` from the end; returns how many. */
  dropFrom(t: number): number {
    let n = 0;
    while (this.length > 0 && (this.t[this.t.length - 1] ?? -Infinity) >= t) {
      this.t.pop();
      this.v.pop();
      n++;
    }
    return n;
  }

  /** The last live point's time; undefined when empty. */
  lastTime(): number | undefined {
    return this.length > 0 ? this.t[this.t.length - 1] : undefined;
  }

  /** The first live point's time; undefined when empty. */
  firstTime(): number | undefined {
    return this.t[this.head];
  }

  /** Appends the points in [from, to] to `out`. */
  copyRange(from: number, to: number, out: Points): void {
    const lo = lowerBound(this.t, from, this.head);
    for (let i = lo; i < this.t.length; i++) {
      const t = this.t[i];
      const v = this.v[i];
      if (t === undefined || v === undefined || t > to) break;
      out.t.push(t);
      out.v.push(v);
    }
  }
}

export class Series {
  private readonly options: SeriesOptions;
  private readonly recent = new Columns();
  private readonly old = new Columns();
  private open: MinMaxBucket | null = null;
  private newest = -Infinity;

  constructor(options: SeriesOptions = DEFAULT_SERIES_OPTIONS) {
    this.options = { ...options };
  }

  /** Adds a point; points older than the newest are ignored (time only moves forward). */
  add(t: number, v: number): void {
    if (t < this.newest) return;
    this.newest = t;
    this.recent.push(t, v);
    this.age();
  }

  /**
   * Goes back to time `t` (the clock stepped back): the points at or after `t` are dropped, so the
   * points that follow are taken again. Returns how many points were dropped.
   */
  rewind(t: number): number {
    if (t > this.newest) return 0;
    let dropped = this.recent.dropFrom(t);
    const open = this.open;
    if (open && open.minT >= t && open.maxT >= t) {
      dropped += open.minT === open.maxT ? 1 : 2;
      this.open = null;
    } else if (open && (open.minT >= t || open.maxT >= t)) {
      // One of the bucket's two points is that late: the bucket keeps the other.
      if (open.minT >= t) Object.assign(open, { minT: open.maxT, min: open.max });
      else Object.assign(open, { maxT: open.minT, max: open.min });
      dropped++;
    }
    if (!this.open) dropped += this.old.dropFrom(t);
    const open2 = this.open as MinMaxBucket | null;
    this.newest = this.recent.lastTime() ?? (open2 ? Math.max(open2.minT, open2.maxT) : undefined) ?? this.old.lastTime() ?? -Infinity;
    return dropped;
  }

  /** The newest point's time, or null when empty. */
  get last(): number | null {
    return this.newest === -Infinity ? null : this.newest;
  }

  get first(): number | null {
    const oldFirst = this.old.firstTime();
    if (oldFirst !== undefined) return oldFirst;
    if (this.open) return Math.min(this.open.minT, this.open.maxT);
    return this.recent.firstTime() ?? null;
  }

  /** Points held (full-rate and downsampled). */
  get size(): number {
    return this.old.length + this.recent.length + (this.open ? 2 : 0);
  }

  setRetention(retentionMs: number): void {
    this.options.retentionMs = retentionMs;
    this.age();
  }

  /** The points in [from, to], at most `maxPoints` of them (min/max downsampled when more). */
  range(from: number, to: number, maxPoints = Infinity): Points {
    const out: Points = { t: [], v: [] };
    this.old.copyRange(from, to, out);
    if (this.open) {
      const b: Points = { t: [], v: [] };
      emitBucket(this.open, b);
      for (const [i, t] of b.t.entries()) {
        const v = b.v[i];
        if (v !== undefined && t >= from && t <= to) {
          out.t.push(t);
          out.v.push(v);
        }
      }
    }
    this.recent.copyRange(from, to, out);
    return out.t.length > maxPoints ? minMaxDownsample(out, from, to, maxPoints) : out;
  }

  private age(): void {
    const { recentMs, bucketMs, retentionMs } = this.options;
    const recentFrom = this.newest - recentMs;
    const r = this.recent;
    let moved = 0;
    while (moved < r.length) {
      const t = r.t[r.head + moved];
      const v = r.v[r.head + moved];
      if (t === undefined || v === undefined || t >= recentFrom) break;
      const start = Math.floor(t / bucketMs) * bucketMs;
      if (this.open && this.open.start !== start) {
        this.closeOpen(this.open);
      }
      this.open = foldPoint(this.open, start, t, v);
      moved++;
    }
    if (moved) r.drop(moved);
    const keepFrom = this.newest - retentionMs;
    const o = this.old;
    const oldFirst = o.firstTime();
    if (oldFirst !== undefined && oldFirst < keepFrom) o.drop(lowerBound(o.t, keepFrom, o.head) - o.head);
  }

  private closeOpen(open: MinMaxBucket): void {
    // The old columns are Points (with a head offset): the bucket's points append to them directly.
    emitBucket(open, this.old);
    this.open = null;
  }
}
