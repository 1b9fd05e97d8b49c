/**
 * Is used VRAM growing? The slope of a least-squares line over a window, the time to OOM at that
 * slope, and how long usage has stayed level ("not a leak: constant for 10 h 50 m").
 * Pure arithmetic: the host and the dashboard page both use it.
 */
import { formatDuration } from '../duration.ts';
import { MiB } from '../units.ts';

export interface TrendInput {
  t: ArrayLike<number>;
  v: ArrayLike<number>;
  /** The window, back from the last point. */
  windowMs: number;
  /** The GPU's total, in the values' unit: time to OOM is until used reaches it. */
  total: number;
  /** Bytes per unit of `v` and `total`: 1 (the default) for bytes, `MiB` when the series is in MiB. */
  unitBytes?: number;
  /** Growth below this many bytes per hour counts as steady (default: 0.5 % of the total per hour, at least 8 MiB). */
  steadyBytesPerHour?: number;
  /** Points within this many bytes of the last value count as "constant" (default: 1 % of the total, at least 16 MiB). */
  bandBytes?: number;
  /** Less history than this in the window gives no verdict (default 10 minutes): a jump is not a trend. */
  minSpanMs?: number;
}

export type TrendVerdict = 'steady' | 'growing' | 'falling' | 'unknown';

export interface Trend {
  verdict: TrendVerdict;
  /** Units of the values per second over the window; null with fewer than two points. */
  slope: number | null;
  /** Milliseconds until used reaches the total at this slope; null when not growing. */
  timeToOomMs: number | null;
  /** How long (ms, back from the last point) every point stayed within the band of the last value. */
  constantForMs: number;
  /** The window actually covered (ms). */
  spanMs: number;
  last: number | null;
}

export function computeTrend(input: TrendInput): Trend {
  const { t, v, total } = input;
  const n = t.length;
  const end = t[n - 1];
  const last = v[n - 1];
  if (n < 2 || end === undefined || last === undefined)
    return { verdict: 'unknown', slope: null, timeToOomMs: null, constantForMs: 0, spanMs: 0, last: last ?? null };
  const from = end - input.windowMs;
  // Least squares on (seconds since the window's first point, bytes).
  let start = n - 1;
  let t0 = end;
  while (start > 0) {
    const earlier = t[start - 1];
    if (earlier === undefined || earlier < from) break;
    start--;
    t0 = earlier;
  }
  let sx = 0,
    sy = 0,
    sxx = 0,
    sxy = 0,
    count = 0;
  for (let i = start; i < n; i++) {
    const ti = t[i];
    const y = v[i];
    if (ti === undefined || y === undefined) continue;
    const x = (ti - t0) / 1000;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
    count++;
  }
  const den = count * sxx - sx * sx;
  const slope = count >= 2 && den > 0 ? (count * sxy - sx * sy) / den : null;
  const unit = input.unitBytes ?? 1;
  const totalBytes = total * unit;
  const band = (input.bandBytes ?? Math.max(16 * MiB, totalBytes * 0.01)) / unit;
  let k = n - 1;
  while (k > 0) {
    const earlier = v[k - 1];
    if (earlier === undefined || Math.abs(earlier - last) > band) break;
    k--;
  }
  const constantForMs = end - (t[k] ?? end);
  const spanMs = end - t0;
  if (slope === null || spanMs <= 0 || spanMs < (input.minSpanMs ?? 10 * 60_000))
    return { verdict: 'unknown', slope, timeToOomMs: null, constantForMs, spanMs, last };
  const steadyPerHour = (input.steadyBytesPerHour ?? Math.max(8 * MiB, totalBytes * 0.005)) / unit;
  const perHour = slope * 3600;
  const verdict: TrendVerdict = Math.abs(perHour) < steadyPerHour ? 'steady' : perHour > 0 ? 'growing' : 'falling';
  const timeToOomMs = verdict === 'growing' ? Math.max(0, ((total - last) / slope) * 1000) : null;
  return { verdict, slope, timeToOomMs, constantForMs, spanMs, last };
}

/** One sentence (`unitBytes`: bytes per unit of the values, 1 for bytes, `MiB` for MiB): "not a leak: constant for 10 h 50 m", "growing 120 MiB/h: OOM in about 2 h 10 m at this rate". */
export function trendText(trend: Trend, unitBytes = 1): string {
  const rate = trend.slope === null ? '' : `${Math.abs(Math.round((trend.slope * 3600 * unitBytes) / MiB))} MiB/h`;
  switch (trend.verdict) {
    case 'steady':
      return `steady — not a leak: constant for ${formatDuration(trend.constantForMs)}`;
    case 'growing':
      return `growing ${rate}: OOM in about ${formatDuration(trend.timeToOomMs ?? 0)} at this rate`;
    case 'falling':
      return `falling ${rate}`;
    default:
      return trend.spanMs > 0 ? `not enough history for a trend yet (${formatDuration(trend.spanMs)})` : 'not enough data for a trend yet';
  }
}
