/**
 * The fleet as one Prometheus sees it, in three queries run at once:
 *  - `last_over_time({__name__=~"…"}[1h])`: every GPU gauge's newest value in the last hour, so a
 *    host whose exporter stopped still shows its last figures;
 *  - `timestamp({__name__=~"<used>"})`: when each live series was last scraped (a stopped target's
 *    series are marked stale by Prometheus and drop out of this one);
 *  - `query_range` of the used gauges over the last hour: the sparklines, and for a stale host the
 *    last moment it had data ("no data since …").
 */
import type { ThresholdSpec } from '../watch/thresholds.ts';
import { hostsFromSamples } from './fleet-hosts.ts';
import type { FleetHost } from './fleet-types.ts';
import { DCGM, DCGM_UNIT_BYTES, FLEET_METRICS, USED_METRICS } from './metric-names.ts';
import { instantQuery, rangeQuery, type MatrixSeries, type PromApiOptions } from './prom-api.ts';
import type { PromSample } from './prom-text.ts';

export const SPARKLINE_WINDOW_S = 3600;
export const SPARKLINE_POINTS = 60;

export interface PrometheusFleetOptions extends PromApiOptions {
  ours: ThresholdSpec;
  /** A host whose newest sample is older than this is stale. */
  staleAfterMs: number;
  /** Milliseconds since the epoch. */
  now: number;
}

const nameRegex = (names: readonly string[]) => `{__name__=~"${names.join('|')}"}`;

/** The queries, for the docs and the tests' recorded replies. */
export function fleetQueries(): { latest: string; scraped: string; used: string } {
  return {
    latest: `last_over_time(${nameRegex(FLEET_METRICS)}[1h])`,
    scraped: `timestamp(${nameRegex(USED_METRICS)})`,
    used: nameRegex(USED_METRICS),
  };
}

export async function readPrometheusFleet(options: PrometheusFleetOptions): Promise<FleetHost[]> {
  const q = fleetQueries();
  // Evaluated at now, to the millisecond: a target that went down a moment ago is already stale.
  const end = Math.round(options.now) / 1000;
  const step = SPARKLINE_WINDOW_S / SPARKLINE_POINTS;
  const [latest, scraped, used] = await Promise.all([
    instantQuery(options, q.latest, end),
    instantQuery(options, q.scraped, end),
    rangeQuery(options, q.used, end - SPARKLINE_WINDOW_S + step, end, step),
  ]);
  const samples: PromSample[] = latest.map((s) => ({ name: s.labels['__name__'] ?? '', labels: s.labels, value: s.value }));
  const hosts = hostsFromSamples(samples, { defaultInstance: options.baseUrl, source: options.baseUrl, ours: options.ours });
  applyTimes(hosts, scraped, used, options, step);
  await refineStaleSince(hosts, options, step);
  return hosts;
}

/** A regex that matches `text` exactly. */
const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The sparkline's grid says within a step when a stopped host last had data; one more range query
 * over that last step (ten minutes when the grid has no point), at one-second resolution where it
 * can, and only for the stale hosts, says to the second.
 */
async function refineStaleSince(hosts: FleetHost[], options: PrometheusFleetOptions, stepS: number): Promise<void> {
  const nowS = Math.floor(options.now / 1000);
  const stale = hosts.filter((h) => h.stale && (h.stale.since === null || options.now - h.stale.since < SPARKLINE_WINDOW_S * 1000)).slice(0, 20);
  if (!stale.length) return;
  // From the grid's last point (or ten minutes back when the grid has none) to a step after it.
  const from = Math.min(...stale.map((h) => (h.stale!.since === null ? nowS - 600 : h.stale!.since / 1000)));
  const to = Math.min(nowS, Math.max(...stale.map((h) => (h.stale!.since === null ? nowS : h.stale!.since / 1000 + stepS))));
  const resolution = Math.max(1, Math.ceil((to - from) / 600));
  // JSON's string escapes are valid in a PromQL string literal.
  const selector = `{__name__=~"${USED_METRICS.join('|')}",instance=~${JSON.stringify(stale.map((h) => escapeRegex(h.instance)).join('|'))}}`;
  let fine: MatrixSeries[];
  try {
    fine = await rangeQuery(options, selector, Math.floor(from), Math.ceil(to), resolution);
  } catch {
    return; // the grid's answer stands
  }
  for (const m of fine) {
    const t = m.t[m.t.length - 1];
    const host = stale.find((h) => h.instance === m.labels['instance']);
    if (t !== undefined && host?.stale) {
      host.stale.since = Math.max(host.stale.since ?? 0, t * 1000);
      host.lastSampleAt = host.stale.since;
    }
  }
}

const seriesKey = (instance: string, exporter: string, gpu: string) => `${instance}|${exporter}|${gpu}`;
const exporterOf = (labels: Record<string, string>) => ('UUID' in labels || labels['__name__'] === DCGM.used ? 'dcgm' : 'vram-guard');

function applyTimes(hosts: FleetHost[], scraped: Array<{ labels: Record<string, string>; value: number }>, used: MatrixSeries[], options: PrometheusFleetOptions, stepS: number): void {
  const lastScrape = new Map<string, number>();
  for (const s of scraped) {
    const instance = s.labels['instance'] ?? '';
    if (Number.isFinite(s.value)) lastScrape.set(instance, Math.max(lastScrape.get(instance) ?? 0, s.value * 1000));
  }
  const lines = new Map<string, MatrixSeries>();
  const lastPoint = new Map<string, number>();
  for (const m of used) {
    const instance = m.labels['instance'] ?? '';
    lines.set(seriesKey(instance, exporterOf(m.labels), m.labels['gpu'] ?? ''), m);
    const t = m.t[m.t.length - 1];
    if (t !== undefined) lastPoint.set(instance, Math.max(lastPoint.get(instance) ?? 0, t * 1000));
  }
  const endS = Math.floor(options.now / 1000);
  for (const host of hosts) {
    const scrapedAt = lastScrape.get(host.instance) ?? null;
    // A VRAM Guard exporter says when its sampler last read the GPUs (`last_over_time` keeps it
    // after the exporter stops): a stuck sampler is stale too.
    const sampledAt = host.lastSampleAt;
    const live = scrapedAt !== null && sampledAt !== null ? Math.min(scrapedAt, sampledAt) : scrapedAt;
    const lastSeen = Math.max(sampledAt ?? 0, lastPoint.get(host.instance) ?? 0);
    host.lastSampleAt = live ?? (lastSeen > 0 ? lastSeen : null);
    if (live === null || options.now - live > options.staleAfterMs) host.stale = { since: host.lastSampleAt };
    for (const gpu of host.gpus) {
      const line = lines.get(seriesKey(host.instance, gpu.exporter, String(gpu.index)));
      if (line) gpu.sparkline = evenly(line, endS, stepS, gpu.exporter === 'dcgm' ? DCGM_UNIT_BYTES : 1);
    }
  }
}

/** The series on the query's grid (oldest first); a step with no value is NaN (a gap). */
function evenly(line: MatrixSeries, endS: number, stepS: number, scale: number): number[] {
  const out = new Array<number>(SPARKLINE_POINTS).fill(NaN);
  for (let i = 0; i < line.t.length; i++) {
    const slot = SPARKLINE_POINTS - 1 - Math.round((endS - line.t[i]!) / stepS);
    if (slot >= 0 && slot < SPARKLINE_POINTS) out[slot] = line.v[i]! * scale;
  }
  return out;
}
