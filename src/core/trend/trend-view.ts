/**
 * A GPU's judgement as the dashboard shows it (the protocol carries this shape): the verdict in words,
 * the leak's rate and when the GPU would be full, and chart markers for its steps and where a leak
 * starts. Pure: the host builds it from the live history, the page from a series when it has nothing
 * better.
 */
import { type AnalysisOptions, analyzeSeries, type GpuAnalysis } from './analysis.ts';
import { segmentText, type VerdictKind } from './verdict.ts';

/** A marker the analysis found (the protocol's Marker, kind `step` or `leak`). */
export interface TrendMarker {
  t: number;
  kind: 'step' | 'leak';
  gpu: number;
  text: string;
  level: null;
  /** MiB (one decimal) before and after a step; after is null for a leak. */
  beforeMiB: number | null;
  afterMiB: number | null;
}

export interface GpuTrend {
  gpu: number;
  kind: VerdictKind;
  /** "steady for 10 h 50 min — not a leak", "+2838 MiB at 10:14: ollama (llama3.2:3b) loaded", "leaking 120 MiB/h since 09:00 in …" */
  text: string;
  /** The leak's rate (MiB/h) and when the GPU would be full (ms), when it leaks. */
  leakMiBPerHour: number | null;
  oomAt: number | null;
  markers: TrendMarker[];
}

/** Markers a GPU's trend carries at most (the newest). */
const MAX_TREND_MARKERS = 50;
const round1 = (v: number) => Math.round(v * 10) / 10;

export function gpuTrend(a: GpuAnalysis): GpuTrend {
  const markers: TrendMarker[] = [];
  for (const s of a.changePoints.segments) {
    if (s.kind !== 'step' && s.kind !== 'leak') continue;
    markers.push({
      t: s.start,
      kind: s.kind,
      gpu: a.gpu,
      text: segmentText(s),
      level: null,
      beforeMiB: round1(s.fromMiB),
      afterMiB: s.kind === 'step' ? round1(s.toMiB) : null,
    });
  }
  const leak = a.verdict.leak;
  return {
    gpu: a.gpu,
    kind: a.verdict.kind,
    text: a.verdict.text,
    leakMiBPerHour: leak ? round1(leak.rateMiBPerHour) : null,
    oomAt: leak?.oomAt ?? null,
    markers: markers.slice(-MAX_TREND_MARKERS),
  };
}

/** A series (MiB) judged on its own, without process lists; null without points. */
export function seriesTrend(
  gpu: number,
  t: ArrayLike<number>,
  usedMiB: ArrayLike<number>,
  totalMiB: number | null,
  options: AnalysisOptions = {},
): GpuTrend | null {
  const a = analyzeSeries(gpu, t, usedMiB, totalMiB, options);
  return a ? gpuTrend(a) : null;
}
