/**
 * The dashboard's state on the page and how each host message changes it. Pure: it takes data and
 * returns data (no DOM), so it is tested in plain Node. main.ts draws what it holds.
 */
import {
  RANGE_MS,
  type ChainView,
  type GpuInfo,
  type GpuTrend,
  type Marker,
  type ProcessTable,
  type RangeData,
  type RangeName,
  type SampleUpdate,
  type SeriesData,
  type ServerCard,
  type Snapshot,
  type ViewMode,
} from '../src/protocol.ts';
import { formatDuration } from '../src/core/duration.ts';

export interface DashboardState {
  mode: ViewMode;
  source: string;
  gpus: GpuInfo[];
  range: RangeName;
  /** The x window shown, ms; follows new samples in live mode unless the user zoomed. */
  window: { from: number; to: number };
  following: boolean;
  bounds: { first: number; last: number } | null;
  /** Per GPU, used MiB over time. */
  series: Map<number, SeriesData>;
  ram: SeriesData;
  swap: SeriesData;
  ramTotalMiB: number | null;
  swapTotalMiB: number | null;
  markers: Marker[];
  processes: ProcessTable[];
  servers: ServerCard[];
  chain: ChainView;
  latest: number | null;
  /** Per GPU, the host's judgement over time (verdict, step and leak markers). */
  trends: Map<number, GpuTrend>;
}

const copy = (s: SeriesData): SeriesData => ({ t: s.t.slice(), v: s.v.slice() });

/** The shortest span the chart shows, however little history there is. */
export const MIN_SPAN_MS = 10_000;

/**
 * The window for a named range ending at `end`: the range, or, while the history is shorter, the
 * history itself (at least MIN_SPAN_MS), so 20 s of samples fill the chart instead of its right edge.
 */
export function rangeWindow(range: RangeName, end: number, bounds: { first: number; last: number } | null): { from: number; to: number } {
  const have = bounds ? Math.max(MIN_SPAN_MS, end - bounds.first) : Infinity;
  if (range === 'all') return { from: end - (bounds ? have : RANGE_MS['1h']), to: end };
  return { from: end - Math.min(RANGE_MS[range], have), to: end };
}

/** "last 20 s" while the window shows less than the range chosen (all the history there is); null otherwise. */
export function shortWindowLabel(state: Pick<DashboardState, 'range' | 'window' | 'following'>): string | null {
  if (!state.following) return null;
  const span = state.window.to - state.window.from;
  if (state.range !== 'all' && span >= RANGE_MS[state.range]) return null;
  return `last ${formatDuration(span)}`;
}

export function fromSnapshot(s: Snapshot): DashboardState {
  const end = s.mode.kind === 'live' ? Math.max(s.now, s.bounds?.last ?? 0) : (s.bounds?.last ?? s.now);
  const state: DashboardState = {
    mode: s.mode,
    source: s.source,
    gpus: s.gpus,
    range: s.range,
    window: rangeWindow(s.range, end, s.bounds),
    following: true,
    bounds: s.bounds,
    series: new Map(),
    ram: { t: [], v: [] },
    swap: { t: [], v: [] },
    ramTotalMiB: null,
    swapTotalMiB: null,
    markers: s.markers.slice(),
    processes: s.processes,
    servers: s.servers,
    chain: s.chain,
    latest: s.bounds?.last ?? null,
    trends: new Map((s.trends ?? []).map((t) => [t.gpu, t])),
  };
  applyRange(state, s.data);
  return state;
}

/** Replaces the series with a range the host sent (a new range, a zoom, a refresh). */
export function applyRange(state: DashboardState, data: RangeData): void {
  state.series = new Map(data.gpus.map((g) => [g.gpu, copy(g)]));
  state.ram = copy(data.ram);
  state.swap = copy(data.swap);
  state.ramTotalMiB = data.ramTotalMiB ?? state.ramTotalMiB;
  state.swapTotalMiB = data.swapTotalMiB ?? state.swapTotalMiB;
}

/**
 * Appends a point. A time before the last one is a clock that stepped back: the points from that
 * time on are dropped first, as the host's history does, so the chart goes on from the new time.
 */
function appendPoint(s: { t: number[]; v: number[] }, t: number, v: number): void {
  let n = s.t.length;
  if ((s.t[n - 1] ?? -Infinity) > t) while (n > 0 && (s.t[n - 1] ?? -Infinity) >= t) n--;
  if (n < s.t.length) {
    s.t.length = n;
    s.v.length = n;
  }
  s.t.push(t);
  s.v.push(v);
}

/** One sample: appended to each GPU's series; levels and totals updated; the window follows. */
export function applySample(state: DashboardState, u: SampleUpdate): void {
  if (state.mode.kind !== 'live') return;
  for (const [gpu, used, total, level] of u.g) {
    let s = state.series.get(gpu);
    if (!s) {
      s = { t: [], v: [] };
      state.series.set(gpu, s);
    }
    appendPoint(s, u.t, used);
    let info = state.gpus.find((g) => g.gpu === gpu);
    if (!info) {
      info = { gpu, name: null, totalMiB: total, thresholds: null, level: null };
      state.gpus.push(info);
      state.gpus.sort((a, b) => a.gpu - b.gpu);
    }
    info.totalMiB = total;
    info.level = level;
  }
  if (u.m) {
    appendPoint(state.ram, u.t, u.m[0]);
    appendPoint(state.swap, u.t, u.m[1]);
  }
  state.latest = u.t;
  state.bounds = state.bounds ? { first: state.bounds.first, last: u.t } : { first: u.t, last: u.t };
  if (state.following) state.window = rangeWindow(state.range, u.t, state.bounds);
}

export function applyMarker(state: DashboardState, m: Marker): void {
  if (state.mode.kind !== 'live') return;
  state.markers.push(m);
  if (state.markers.length > 5000) state.markers.splice(0, state.markers.length - 5000);
}

/** The host judged the GPUs again. */
export function applyTrends(state: DashboardState, trends: GpuTrend[]): void {
  if (state.mode.kind !== 'live') return;
  state.trends = new Map(trends.map((t) => [t.gpu, t]));
}

/** Every marker of the chart: the recorded events, and the steps and leak starts the trend found. */
export function allMarkers(state: DashboardState): Marker[] {
  if (!state.trends.size) return state.markers;
  return [...state.markers, ...[...state.trends.values()].flatMap((t) => t.markers)];
}

/** A new named range: the window jumps to it and follows again. */
export function selectRange(state: DashboardState, range: RangeName): void {
  state.range = range;
  state.following = true;
  const end = state.latest ?? state.window.to;
  state.window = rangeWindow(range, end, state.bounds);
}

/** The user dragged a zoom window: it stays put until a range is chosen again. */
export function zoomTo(state: DashboardState, from: number, to: number): void {
  if (!(to > from)) return;
  state.following = false;
  state.window = { from, to };
}

/** Points held for the chart beyond which a fresh, downsampled range is asked for. */
export function needsRefresh(state: DashboardState, maxPoints: number): boolean {
  for (const s of state.series.values()) if (s.t.length > maxPoints * 3) return true;
  return false;
}
