/**
 * What a GPU's chart draws, as data: the threshold bands, the markers in view, the uPlot columns and
 * the trend line. Pure (no DOM, no uPlot), tested in plain Node.
 */
import { formatDuration } from '../src/core/duration.ts';
import { seriesTrend } from '../src/core/trend/trend-view.ts';
import type { Level } from '../src/core/watch/levels.ts';
import type { GpuInfo, GpuTrend, Marker, SeriesData } from '../src/protocol.ts';
import { formatSizeFromMiB, formatTime } from './format.ts';

export interface Band {
  level: Exclude<Level, 'ok'>;
  /** MiB. */
  from: number;
  to: number;
}

/** WARNING → CRITICAL → EMERGENCY → total, as bands; none without thresholds. */
export function thresholdBands(gpu: GpuInfo): Band[] {
  const t = gpu.thresholds;
  if (!t) return [];
  return [
    { level: 'warning', from: t.warning, to: t.critical },
    { level: 'critical', from: t.critical, to: t.emergency },
    { level: 'emergency', from: t.emergency, to: Math.max(gpu.totalMiB, t.emergency) },
  ];
}

export interface MarkerView {
  t: number;
  kind: Marker['kind'];
  level: Level | null;
  /** A short label on the chart. */
  label: string;
  /** The details on hover. */
  detail: string;
}

const KIND_LABEL: Record<Marker['kind'], string> = {
  transition: 'level',
  fallback: 'fallback',
  task: 'task',
  spike: 'spike',
  note: 'event',
  cascade: 'cascade',
  step: 'step',
  leak: 'leak',
};

/** The markers of one GPU (and those for every GPU) inside the window, with their hover text. */
export function markersInView(markers: readonly Marker[], gpu: number, from: number, to: number, now = Date.now()): MarkerView[] {
  const out: MarkerView[] = [];
  for (const m of markers) {
    if (m.t < from || m.t > to || (m.gpu !== null && m.gpu !== gpu)) continue;
    const memory =
      m.beforeMiB !== null && m.afterMiB !== null
        ? ` · ${formatSizeFromMiB(m.beforeMiB)} → ${formatSizeFromMiB(m.afterMiB)}`
        : m.beforeMiB !== null
          ? ` · at ${formatSizeFromMiB(m.beforeMiB)}`
          : '';
    out.push({
      t: m.t,
      kind: m.kind,
      level: m.level,
      label: m.kind === 'transition' && m.level ? m.level.toUpperCase() : KIND_LABEL[m.kind],
      detail: `${formatTime(m.t, now)} · ${m.text}${m.kind === 'transition' ? '' : memory}`,
    });
  }
  return out;
}

/** The page's own judgement of a series, made again only once it has 30 s more (not on every frame). */
const judgedHere = new WeakMap<SeriesData, { at: number; n: number; trend: GpuTrend | null }>();

function pageTrend(s: SeriesData, totalMiB: number): GpuTrend | null {
  const last = s.t[s.t.length - 1] ?? 0;
  const held = judgedHere.get(s);
  if (held && s.t.length >= held.n && last - held.at < 30_000) return held.trend;
  const trend = seriesTrend(0, s.t, s.v, totalMiB);
  judgedHere.set(s, { at: last, n: s.t.length, trend });
  return trend;
}

export interface TrendView {
  verdict: GpuTrend['kind'];
  text: string;
  /** The leak's rate, or "none". */
  leakRate: string;
  timeToOom: string;
}

/**
 * The trend box: the host's judgement of the GPU over time (with the processes behind its steps and
 * leaks) when it has one, else the series shown judged on its own.
 */
export function trendView(s: SeriesData, totalMiB: number, judged: GpuTrend | null = null): TrendView {
  const trend = judged ?? pageTrend(s, totalMiB);
  if (!trend) return { verdict: 'none', text: 'not enough data for a verdict yet', leakRate: 'none', timeToOom: '—' };
  const end = s.t[s.t.length - 1] ?? Date.now();
  const rate = trend.leakMiBPerHour;
  return {
    verdict: trend.kind,
    text: trend.text,
    leakRate: rate === null ? 'none' : `+${rate.toFixed(rate < 10 ? 1 : 0)} MiB/h`,
    timeToOom: trend.oomAt !== null ? `about ${formatDuration(Math.max(0, trend.oomAt - end))}` : trend.kind === 'leak' ? '—' : 'not leaking',
  };
}

/** The y axis range: 0 to the total, so the bands and the headroom are always in view. */
export function yRange(gpu: GpuInfo, s: SeriesData): [number, number] {
  let max = gpu.totalMiB;
  for (const v of s.v) if (v > max) max = v;
  return [0, max];
}

export interface LabelPlace {
  /** 0, 1, 2...: how many label heights below the top. */
  row: number;
  /** Label to the left of its line (near the right edge). */
  flip: boolean;
}

/**
 * Where each marker's label goes so labels do not cover each other: transitions on the first row,
 * fallback steps on the second, the rest on the third, each pushed a row down (up to `rows`) when
 * the row is taken within `labelPx` of it; labels near the right edge point left.
 */
export function placeLabels(markers: ReadonlyArray<{ x: number; kind: Marker['kind'] }>, width: number, labelPx = 72, rows = 4): LabelPlace[] {
  const lastX: number[] = Array.from({ length: rows }, () => -Infinity);
  const base = (k: Marker['kind']) => (k === 'transition' ? 0 : k === 'fallback' ? 1 : 2);
  const order = [...markers.entries()].sort(([, a], [, b]) => a.x - b.x);
  const out: LabelPlace[] = new Array(markers.length);
  for (const [i, m] of order) {
    let row = base(m.kind);
    while (row < rows - 1 && m.x - (lastX[row] ?? -Infinity) < labelPx) row++;
    lastX[row] = m.x;
    out[i] = { row, flip: m.x > width - labelPx };
  }
  return out;
}

/**
 * The chart in words, for screen readers: what it spans, the figures (now, lowest, highest, of the
 * total), where WARNING starts, and the card's verdict.
 */
export function chartTextAlternative(gpu: GpuInfo, s: SeriesData, span: string, verdict: string): string {
  if (!s.v.length) return `Used VRAM on GPU ${gpu.gpu}: no samples in this range yet. ${verdict}.`;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of s.v) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const now = s.v[s.v.length - 1] ?? 0;
  const warning = gpu.thresholds ? ` WARNING starts at ${formatSizeFromMiB(gpu.thresholds.warning)}.` : '';
  return `Used VRAM on GPU ${gpu.gpu} over ${span}: ${formatSizeFromMiB(now)} of ${formatSizeFromMiB(gpu.totalMiB)} now, lowest ${formatSizeFromMiB(lo)}, highest ${formatSizeFromMiB(hi)}.${warning} ${verdict}.`;
}
