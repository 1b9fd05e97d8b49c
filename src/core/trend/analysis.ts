/**
 * A GPU's history judged: samples in (streamed, per GPU), change points and the verdict out, and the
 * JSON `vram-guard history analyze --json` prints (times in ISO 8601).
 */
import { BucketSeries, type BucketSeriesOptions, type TrendProcess } from './bucket-series.ts';
import { findChangePoints, type ChangePointOptions, type ChangePoints, type Gap, type Segment, type SegmentProcess } from './change-points.ts';
import type { SystemMemory } from '../history/types.ts';
import { SpillDetector, type SystemEvent } from './spill.ts';
import { verdictOf, type Leak, type Verdict, type VerdictOptions } from './verdict.ts';

export interface GpuAnalysis {
  gpu: number;
  totalMiB: number | null;
  samples: number;
  start: number;
  end: number;
  changePoints: ChangePoints;
  verdict: Verdict;
}

export interface AnalysisOptions extends BucketSeriesOptions, ChangePointOptions, VerdictOptions {}

/** Samples of any number of GPUs, interleaved or not; each GPU's must be in time order. */
export class TrendAnalyzer {
  private readonly series = new Map<number, BucketSeries>();
  private readonly options: AnalysisOptions;
  /** Samples refused because they were earlier than the one before them for the same GPU. */
  backwards = 0;
  firstBackwards: { gpu: number; t: number; previous: number } | null = null;
  /** RAM spills and low RAM found in the system memory readings (at most 100 kept). */
  readonly systemEvents: SystemEvent[] = [];
  private readonly spills = new SpillDetector();

  constructor(options: AnalysisOptions = {}) {
    this.options = options;
  }

  add(gpu: number, t: number, usedMiB: number, totalMiB: number | null, processes: TrendProcess[] | null = null): boolean {
    let s = this.series.get(gpu);
    if (!s) {
      s = new BucketSeries(this.options);
      this.series.set(gpu, s);
    }
    const previous = s.lastTime;
    if (s.add(t, usedMiB, totalMiB, processes)) return true;
    this.backwards++;
    this.firstBackwards ??= { gpu, t, previous };
    return false;
  }

  /** A reading of system RAM and swap (from a history with them). */
  addSystem(t: number, m: SystemMemory): void {
    for (const e of this.spills.observe(t, m)) if (this.systemEvents.length < 100) this.systemEvents.push(e);
  }

  gpus(): number[] {
    return [...this.series.keys()].sort((a, b) => a - b);
  }

  analyze(gpu: number): GpuAnalysis | null {
    const s = this.series.get(gpu);
    if (!s?.samples) return null;
    const b = s.buckets();
    const changePoints = findChangePoints(b, this.options);
    return {
      gpu,
      totalMiB: s.totalMiB,
      samples: s.samples,
      start: b.first[0] as number,
      end: b.last[b.last.length - 1] as number,
      changePoints,
      verdict: verdictOf(changePoints, s.totalMiB, this.options),
    };
  }
}

/** One GPU's series (MiB) judged at once: the dashboard's and the tests' way in. */
export function analyzeSeries(
  gpu: number,
  t: ArrayLike<number>,
  usedMiB: ArrayLike<number>,
  totalMiB: number | null,
  options: AnalysisOptions = {},
  processes?: ArrayLike<TrendProcess[] | null>,
): GpuAnalysis | null {
  const a = new TrendAnalyzer(options);
  for (let i = 0; i < t.length; i++) a.add(gpu, t[i] as number, usedMiB[i] as number, totalMiB, processes?.[i] ?? null);
  return a.analyze(gpu);
}

// ---- the JSON of `history analyze --json` ----

export interface ProcessJson {
  pid: number;
  name: string | null;
  usedMiB: number | null;
  deltaMiB: number;
}

export interface SegmentJson {
  kind: Segment['kind'];
  start: string;
  end: string;
  deltaMiB: number;
  rateMiBPerHour: number;
  processes: ProcessJson[];
}

export interface LeakJson {
  rateMiBPerHour: number;
  since: string;
  oomAt: string | null;
  processes: ProcessJson[];
}

export interface GpuAnalysisJson {
  gpu: number;
  verdict: string;
  leak: LeakJson | null;
  segments: SegmentJson[];
}

const iso = (t: number) => new Date(t).toISOString();
const round1 = (v: number) => Math.round(v * 10) / 10;
const processJson = (p: SegmentProcess): ProcessJson => ({
  pid: p.pid,
  name: p.name,
  usedMiB: p.usedMiB === null ? null : round1(p.usedMiB),
  deltaMiB: round1(p.deltaMiB),
});

export function leakJson(leak: Leak): LeakJson {
  return {
    rateMiBPerHour: round1(leak.rateMiBPerHour),
    since: iso(leak.since),
    oomAt: leak.oomAt === null ? null : iso(leak.oomAt),
    processes: leak.processes.map(processJson),
  };
}

export function analysisJson(a: GpuAnalysis): GpuAnalysisJson {
  return {
    gpu: a.gpu,
    verdict: a.verdict.text,
    leak: a.verdict.leak ? leakJson(a.verdict.leak) : null,
    segments: a.changePoints.segments.map((s) => ({
      kind: s.kind,
      start: iso(s.start),
      end: iso(s.end),
      deltaMiB: round1(s.deltaMiB),
      rateMiBPerHour: round1(s.rateMiBPerHour),
      processes: s.processes.map(processJson),
    })),
  };
}

export type { Gap, TrendProcess };
