/**
 * A GPU's used memory over time, cut into segments a person can act on: *steady*; *step* (a change
 * that settles within about a minute — a model loaded or unloaded); *burst* (goes up and comes back);
 * *leak* (a slope that persists for at least 15 minutes after the last step, with its rate). Each
 * segment names the processes whose memory explains it, from the samples' process lists.
 *
 * The method, on the bounded buckets of bucket-series.ts (at most a few thousand points, so a day at
 * 1 Hz takes a few milliseconds):
 *  1. The noise: the median absolute deviation of the first differences (robust to steps and slopes;
 *     Hampel 1974), which sets the step threshold.
 *  2. Steps and bursts: runs of large first differences within a minute of each other are one
 *     transition (its level before and after, its peak); a transition that returns to where it
 *     started is a burst.
 *  3. Between transitions, slopes: binary segmentation of the plateau into straight pieces
 *     (Scott & Knott 1974; Killick, Fearnhead & Eckley 2012, "Optimal detection of changepoints with
 *     a linear computational cost", for the penalised cost used here: a split must lower the sum of
 *     squared residuals of the least-squares lines by more than 4·σ²·ln n). Neighbouring pieces that
 *     rise (or stay level) together are joined again.
 *  4. A rising run of 15 minutes or more is a leak when its slope is significant (t ≥ 5), at least
 *     `minLeakRateMiBPerHour`, and present in each third of it (a hidden step is not a slope); its
 *     rate is the Theil–Sen estimator (Theil 1950; Sen 1968: the median of the pairwise slopes),
 *     which a few outliers do not move.
 * A rise shorter than that followed by a drop back to the level before it (a sawtooth tooth) is a
 * burst, never a leak.
 */
import type { Buckets, TrendProcess } from './bucket-series.ts';

export type SegmentKind = 'steady' | 'step' | 'burst' | 'leak';

/** A process's part in a segment: its memory at the end (or at a burst's peak) and its change (MiB). */
export interface SegmentProcess {
  pid: number;
  name: string | null;
  usedMiB: number | null;
  deltaMiB: number;
}

export interface Segment {
  kind: SegmentKind;
  /** Milliseconds since the epoch. */
  start: number;
  end: number;
  /** Used memory at the start and the end (MiB); for a burst, `peakMiB` is its highest point. */
  fromMiB: number;
  toMiB: number;
  peakMiB: number;
  /** The change: end − start, and for a burst its height above the level before it. */
  deltaMiB: number;
  /** The slope of a steady or leaking segment, the average rate of a step or burst. */
  rateMiBPerHour: number;
  processes: SegmentProcess[];
}

export interface ChangePointOptions {
  /** Changes smaller than this are never steps (MiB; default 32, raised to 6·√2·σ on noisy series). */
  minStepMiB?: number;
  /** A transition's differences within this much time are one step (default 60 s). */
  settleMs?: number;
  /** A rise must persist this long after the last step to be a leak (default 15 min). */
  minLeakMs?: number;
  /** Slower growth is steady (default 20 MiB/h). */
  minLeakRateMiBPerHour?: number;
  /** An up-and-back longer than this is two steps, not a burst (default 15 min). */
  maxBurstMs?: number;
  /** No samples for this long is a gap (default 15 min). */
  minGapMs?: number;
}

export interface Gap {
  from: number;
  to: number;
}

export interface ChangePoints {
  segments: Segment[];
  /** The noise of the buckets' means (MiB, one standard deviation). */
  noiseMiB: number;
  /** The smallest change counted as a step (MiB). */
  stepMiB: number;
  gaps: Gap[];
}

const HOUR = 3_600_000;

export function findChangePoints(b: Buckets, options: ChangePointOptions = {}): ChangePoints {
  const n = b.first.length;
  const settleMs = options.settleMs ?? 60_000;
  const minLeakMs = options.minLeakMs ?? 15 * 60_000;
  const minLeakRate = options.minLeakRateMiBPerHour ?? 20;
  const maxBurstMs = options.maxBurstMs ?? 15 * 60_000;
  const minGapMs = Math.max(options.minGapMs ?? 15 * 60_000, 10 * b.widthMs);
  const x = b.mean;
  const gaps: Gap[] = [];
  for (let i = 1; i < n; i++) {
    const from = b.last[i - 1] as number;
    const to = b.first[i] as number;
    if (to - from >= minGapMs) gaps.push({ from, to });
  }
  if (n === 0) return { segments: [], noiseMiB: 0, stepMiB: options.minStepMiB ?? 32, gaps };

  // 1. Noise from the first differences: σ of one mean = 1.4826·MAD(d)/√2.
  const d: number[] = [];
  for (let i = 1; i < n; i++) d.push((x[i] as number) - (x[i - 1] as number));
  // Steps are no noise: the estimate is made again without the differences that are half a step or
  // more, until it settles (a short trace with a few loads would otherwise read its loads as noise).
  let sigma = Infinity;
  let stepMiB = Infinity;
  let kept = d;
  for (let round = 0; round < 4; round++) {
    const medD = median(kept);
    const next = Math.max(0.5, (1.4826 * median(kept.map((v) => Math.abs(v - medD)))) / Math.SQRT2);
    if (next >= sigma) break;
    sigma = next;
    stepMiB = Math.max(options.minStepMiB ?? 32, 6 * Math.SQRT2 * sigma);
    const half = stepMiB / 2;
    const rest = d.filter((v) => Math.abs(v) < half);
    if (rest.length < 8) break;
    kept = rest;
  }
  if (!Number.isFinite(sigma)) {
    sigma = 0.5;
    stepMiB = options.minStepMiB ?? 32;
  }

  // 2. Transitions: runs of differences of at least half a step, within `settleMs` of each other.
  const transitions: Array<{ pre: number; post: number }> = [];
  let open: { pre: number; post: number; moves: number } | null = null;
  // Movement that goes on longer than this is a slope (a fast leak in wide buckets), not a step.
  const longestStepMs = Math.max(2 * settleMs, 3 * b.widthMs);
  const close = () => {
    if (!open) return;
    const { pre, post } = open;
    if (open.moves >= 4 && (b.first[post] as number) - (b.last[pre] as number) > longestStepMs) {
      open = null;
      return;
    }
    let peak = -Infinity;
    let trough = Infinity;
    for (let k = pre; k <= post; k++) {
      peak = Math.max(peak, b.max[k] as number);
      trough = Math.min(trough, b.min[k] as number);
    }
    const a = x[pre] as number;
    const z = x[post] as number;
    const dip = Math.min(a, z) - trough;
    if (dip >= stepMiB && dip > peak - Math.max(a, z)) {
      // Down and up again (a process exits and is started again): two steps, at the lowest point.
      let low = pre;
      for (let k = pre; k <= post; k++) if ((x[k] as number) < (x[low] as number)) low = k;
      if (low > pre && low < post) {
        transitions.push({ pre, post: low }, { pre: low, post });
        open = null;
        return;
      }
    }
    if (Math.abs(z - a) >= stepMiB || peak - Math.max(a, z) >= stepMiB || dip >= stepMiB) transitions.push(open);
    open = null;
  };
  for (let i = 1; i < n; i++) {
    const spike = (b.max[i] as number) - (x[i] as number) >= stepMiB && i + 1 < n;
    if (Math.abs((x[i] as number) - (x[i - 1] as number)) < stepMiB / 2 && !spike) continue;
    const post = spike ? i + 1 : i;
    if (open && (b.first[i - 1] as number) - (b.first[open.post] as number) <= settleMs) {
      open.post = Math.max(open.post, post);
      open.moves++;
    } else {
      close();
      open = { pre: i - 1, post, moves: 1 };
    }
  }
  close();

  // 3. Plateaus between transitions, cut into straight pieces and joined into runs.
  const raw: Segment[] = [];
  let p0 = 0;
  for (const tr of [...transitions, null]) {
    const p1 = tr ? tr.pre : n - 1;
    // A plateau of one bucket between two changes (or before the first) is no steady stretch.
    const lone = p1 === p0 && (tr !== null || p0 > 0) && transitions.length > 0;
    if (p1 >= p0 && !lone) raw.push(...plateauRuns(b, p0, p1, sigma, stepMiB, minLeakMs, minLeakRate));
    if (!tr) break;
    raw.push(transitionSegment(b, tr.pre, tr.post, stepMiB));
    p0 = tr.post;
  }
  const segments = joinSteady(mergeBursts(raw, stepMiB, maxBurstMs, minLeakMs), stepMiB);
  return { segments, noiseMiB: sigma, stepMiB, gaps };
}

function median(values: number[]): number {
  if (!values.length) return 0;
  const s = Float64Array.from(values).sort();
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Least-squares sums over [a, b) of a plateau (time in hours from its start, MiB from its first value). */
class Sums {
  private readonly c: Float64Array[];
  constructor(t: number[], y: number[]) {
    const m = t.length;
    const cols = [0, 1, 2, 3, 4].map(() => new Float64Array(m + 1));
    for (let i = 0; i < m; i++) {
      const ti = t[i] as number;
      const yi = y[i] as number;
      const add = [ti, ti * ti, yi, ti * yi, yi * yi];
      for (let k = 0; k < 5; k++) (cols[k] as Float64Array)[i + 1] = ((cols[k] as Float64Array)[i] as number) + (add[k] as number);
    }
    this.c = cols;
  }
  private s(k: number, a: number, b: number): number {
    const col = this.c[k] as Float64Array;
    return (col[b] as number) - (col[a] as number);
  }
  /** The residual sum of squares of the least-squares line over [a, b) (no allocation: the split scan calls it often). */
  sse(a: number, b: number): number {
    const m = b - a;
    const st = this.s(0, a, b);
    const sy = this.s(2, a, b);
    const sxx = this.s(1, a, b) - (st * st) / m;
    const sxy = this.s(3, a, b) - (st * sy) / m;
    const syyc = this.s(4, a, b) - (sy * sy) / m;
    return Math.max(0, sxx > 1e-12 ? syyc - (sxy * sxy) / sxx : syyc);
  }
  /** Slope (MiB/h), intercept, residual sum of squares and the spread of the times of the line over [a, b). */
  fit(a: number, b: number): { slope: number; intercept: number; sse: number; sxx: number } {
    const m = b - a;
    const st = this.s(0, a, b);
    const stt = this.s(1, a, b);
    const sy = this.s(2, a, b);
    const sty = this.s(3, a, b);
    const syy = this.s(4, a, b);
    const sxx = stt - (st * st) / m;
    const sxy = sty - (st * sy) / m;
    const syyc = syy - (sy * sy) / m;
    const slope = sxx > 1e-12 ? sxy / sxx : 0;
    const sse = Math.max(0, sxx > 1e-12 ? syyc - slope * sxy : syyc);
    return { slope, intercept: (sy - slope * st) / m, sse, sxx };
  }
}

type Trend = 'flat' | 'rising' | 'falling';

/** The plateau of buckets [p0, p1] as steady, leaking or sloping runs. */
function plateauRuns(b: Buckets, p0: number, p1: number, sigma: number, stepMiB: number, minLeakMs: number, minLeakRate: number): Segment[] {
  const m = p1 - p0 + 1;
  const t0 = b.first[p0] as number;
  const y0 = b.mean[p0] as number;
  const t: number[] = [];
  const y: number[] = [];
  for (let i = p0; i <= p1; i++) {
    t.push(((b.first[i] as number) + (b.last[i] as number)) / 2 / HOUR - t0 / HOUR);
    y.push((b.mean[i] as number) - y0);
  }
  const sums = new Sums(t, y);
  // Binary segmentation, pieces of at least two minutes (and 3 buckets).
  const minLen = Math.max(3, Math.ceil(120_000 / b.widthMs));
  const penalty = 4 * sigma * sigma * Math.log(Math.max(m, 3));
  const cuts: number[] = [0, m];
  const stack: Array<[number, number, number]> = [[0, m, 0]];
  while (stack.length) {
    const [a, z, depth] = stack.pop() as [number, number, number];
    if (z - a < 2 * minLen || depth > 12 || cuts.length > 64) continue;
    const whole = sums.sse(a, z);
    let best = -1;
    let bestGain = penalty;
    for (let k = a + minLen; k <= z - minLen; k++) {
      const gain = whole - sums.sse(a, k) - sums.sse(k, z);
      if (gain > bestGain) {
        bestGain = gain;
        best = k;
      }
    }
    if (best < 0) continue;
    cuts.push(best);
    stack.push([a, best, depth + 1], [best, z, depth + 1]);
  }
  cuts.sort((p, q) => p - q);
  // Each piece's direction; neighbours with the same direction and no jump between them form a run.
  const trendOf = (a: number, z: number): Trend => {
    const f = sums.fit(a, z);
    if (z - a < 3 || f.sxx <= 0) return 'flat';
    const resid = Math.max(sigma, Math.sqrt(f.sse / Math.max(1, z - a - 2)));
    const tStat = f.slope / (resid / Math.sqrt(f.sxx));
    const hours = (t[z - 1] as number) - (t[a] as number);
    if (Math.abs(f.slope) < minLeakRate || Math.abs(tStat) < 5 || Math.abs(f.slope * hours) < 8) return 'flat';
    return f.slope > 0 ? 'rising' : 'falling';
  };
  const runs: Array<{ a: number; z: number; trend: Trend }> = [];
  for (let c = 0; c + 1 < cuts.length; c++) {
    const a = cuts[c] as number;
    const z = cuts[c + 1] as number;
    const trend = trendOf(a, z);
    const prev = runs[runs.length - 1];
    const joined = prev !== undefined && Math.abs((y[a] as number) - (y[a - 1] as number)) < stepMiB;
    // A short level piece at the end of a rise is too short to say the rise stopped: it stays in the run.
    const short = (t[z - 1] as number) - (t[a] as number) < 5 / 60;
    if (prev && joined && (prev.trend === trend || (trend === 'flat' && short && trendOf(prev.a, z) === prev.trend))) prev.z = z;
    else runs.push({ a, z, trend });
  }
  return runs.map((r) => {
    const i0 = p0 + r.a;
    const i1 = p0 + r.z - 1;
    const start = b.first[i0] as number;
    const end = b.last[i1] as number;
    const fit = sums.fit(r.a, r.z);
    const from = y0 + fit.intercept + fit.slope * (t[r.a] as number);
    const to = y0 + fit.intercept + fit.slope * (t[r.z - 1] as number);
    let kind: SegmentKind = r.trend === 'flat' ? 'steady' : 'step';
    let rate = fit.slope;
    if (r.trend === 'rising' && end - start >= minLeakMs) {
      const robust = theilSen(t, y, r.a, r.z);
      // Present in each third: a step below the threshold inside a flat stretch is not a slope.
      const third = Math.floor((r.z - r.a) / 3);
      const everywhere = third >= 2 && [0, 1, 2].every((k) => sums.fit(r.a + k * third, r.a + (k + 1) * third).slope > 0.2 * robust);
      if (everywhere && robust >= minLeakRate) {
        kind = 'leak';
        rate = robust;
      }
    }
    const peak = Math.max(...b.max.slice(i0, i1 + 1));
    return {
      kind,
      start,
      end,
      fromMiB: kind === 'steady' ? (b.mean[i0] as number) : from,
      toMiB: kind === 'steady' ? (b.mean[i1] as number) : to,
      peakMiB: peak,
      deltaMiB: kind === 'steady' ? (b.mean[i1] as number) - (b.mean[i0] as number) : to - from,
      rateMiBPerHour: rate,
      processes: explain(b.procFirst[i0] ?? null, b.procLast[i1] ?? null, kind),
    };
  });
}

/** Theil–Sen slope over [a, z), on at most 60 evenly spaced points. */
function theilSen(t: number[], y: number[], a: number, z: number): number {
  const step = Math.max(1, Math.floor((z - a) / 60));
  const slopes: number[] = [];
  for (let i = a; i < z; i += step) {
    for (let j = i + step; j < z; j += step) {
      const dt = (t[j] as number) - (t[i] as number);
      if (dt > 0) slopes.push(((y[j] as number) - (y[i] as number)) / dt);
    }
  }
  return median(slopes);
}

function transitionSegment(b: Buckets, pre: number, post: number, stepMiB: number): Segment {
  const from = b.mean[pre] as number;
  const to = b.mean[post] as number;
  let peak = -Infinity;
  let peakAt = pre;
  let trough = Infinity;
  for (let k = pre; k <= post; k++) {
    if ((b.max[k] as number) > peak) {
      peak = b.max[k] as number;
      peakAt = k;
    }
    trough = Math.min(trough, b.min[k] as number);
  }
  // From the first sample that moved to the first at the new level.
  const start = b.first[Math.min(pre + 1, post)] as number;
  const end = b.first[post] as number;
  const burst = Math.abs(to - from) < stepMiB;
  const up = peak - Math.max(from, to);
  const delta = burst ? (up >= Math.min(from, to) - trough ? peak - from : trough - from) : to - from;
  const hours = Math.max(end - start, 1000) / HOUR;
  return {
    kind: burst ? 'burst' : 'step',
    start,
    end,
    fromMiB: from,
    toMiB: to,
    peakMiB: peak,
    deltaMiB: delta,
    rateMiBPerHour: delta / hours,
    processes: explain(b.procLast[pre] ?? null, burst ? (b.procMax[peakAt] ?? null) : (b.procLast[post] ?? null), burst ? 'burst' : 'step'),
  };
}

/** A rise (a step up, or a short rise) and the drop back to the level before it, within `maxBurstMs`: one burst. */
function mergeBursts(segments: Segment[], stepMiB: number, maxBurstMs: number, minLeakMs: number): Segment[] {
  const out: Segment[] = [];
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as Segment;
    if (s.kind !== 'step' || s.deltaMiB < stepMiB) {
      out.push(s);
      continue;
    }
    let merged: Segment | null = null;
    for (let j = i + 1; j < segments.length; j++) {
      const e = segments[j] as Segment;
      // A fall below where it started (a process died) ends the search: that is not a burst coming back.
      if (e.end - s.start > maxBurstMs || e.kind === 'leak' || e.end - e.start > minLeakMs || e.toMiB < s.fromMiB - stepMiB) break;
      if (Math.abs(e.toMiB - s.fromMiB) < stepMiB && e.kind !== 'steady') {
        let peak = s.peakMiB;
        let peakSeg = s;
        for (let k = i; k <= j; k++) {
          const p = segments[k] as Segment;
          if (p.peakMiB > peak) {
            peak = p.peakMiB;
            peakSeg = p;
          }
        }
        merged = {
          kind: 'burst',
          start: s.start,
          end: e.end,
          fromMiB: s.fromMiB,
          toMiB: e.toMiB,
          peakMiB: peak,
          deltaMiB: peak - s.fromMiB,
          rateMiBPerHour: (peak - s.fromMiB) / (Math.max(e.end - s.start, 1000) / HOUR),
          processes: peakSeg.processes.length ? peakSeg.processes : s.processes,
        };
        i = j;
        break;
      }
    }
    out.push(merged ?? s);
  }
  return out;
}

/** Neighbouring steady segments with no step between them are one. */
function joinSteady(segments: Segment[], stepMiB: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segments) {
    const prev = out[out.length - 1];
    if (prev && prev.kind === 'steady' && s.kind === 'steady' && Math.abs(s.fromMiB - prev.toMiB) < stepMiB) {
      const hours = Math.max(s.end - prev.start, 1) / HOUR;
      out[out.length - 1] = {
        ...prev,
        end: s.end,
        toMiB: s.toMiB,
        peakMiB: Math.max(prev.peakMiB, s.peakMiB),
        deltaMiB: s.toMiB - prev.fromMiB,
        rateMiBPerHour: (s.toMiB - prev.fromMiB) / hours,
        processes: s.processes,
      };
    } else out.push(s);
  }
  return out;
}

/**
 * The processes behind a change: those whose memory moved by a good part of it (a new PID counts
 * from 0, a gone one to 0), largest first; for a steady stretch, the largest holders at its end.
 */
function explain(before: TrendProcess[] | null, after: TrendProcess[] | null, kind: SegmentKind): SegmentProcess[] {
  if (!after && !before) return [];
  // A change is explained only from the process lists on both sides of it: a list not read before
  // the change (null) would make every process look newly loaded with all its memory.
  if (kind !== 'steady' && (!before || !after)) return [];
  const rows = new Map<number, SegmentProcess>();
  for (const p of after ?? []) rows.set(p.pid, { pid: p.pid, name: p.name, usedMiB: p.usedMiB, deltaMiB: p.usedMiB ?? 0 });
  for (const p of before ?? []) {
    const row = rows.get(p.pid);
    if (row) row.deltaMiB = (row.usedMiB ?? 0) - (p.usedMiB ?? 0);
    else rows.set(p.pid, { pid: p.pid, name: p.name, usedMiB: 0, deltaMiB: -(p.usedMiB ?? 0) });
  }
  const all = [...rows.values()].map((r) => ({ ...r, deltaMiB: Math.round(r.deltaMiB * 10) / 10 }));
  if (kind === 'steady')
    return all
      .filter((r) => (r.usedMiB ?? 0) > 0)
      .sort((p, q) => (q.usedMiB ?? 0) - (p.usedMiB ?? 0))
      .slice(0, 3);
  const moved = all.filter((r) => Math.abs(r.deltaMiB) >= 4).sort((p, q) => Math.abs(q.deltaMiB) - Math.abs(p.deltaMiB));
  const biggest = Math.abs(moved[0]?.deltaMiB ?? 0);
  return moved.filter((r) => Math.abs(r.deltaMiB) >= biggest * 0.25).slice(0, 3);
}
