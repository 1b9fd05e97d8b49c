/**
 * The fleet as one Prometheus sees it, in four queries run at once, each asking only for what is
 * shown (a VRAM Guard exporter also publishes dcgm-exporter's names: those copies are left out
 * with `unless on(instance)`, so a reply stays small):
 *  - `last_over_time(…[1h])` of the GPU gauges: every GPU's newest figures in the last hour, so a
 *    host whose exporter stopped still shows its last figures;
 *  - the top holders per GPU, summed by task, server and process name (`topk`, `sum by`);
 *  - `max by (instance) (timestamp(…))`: when each target was last scraped (a stopped target's
 *    series are marked stale by Prometheus and drop out of this one);
 *  - `query_range` of the used gauges over the last hour, in MiB, one series per GPU: the
 *    sparklines, and for a stale host the last moment it had data ("no data since …").
 */
import type { ThresholdSpec } from '../watch/thresholds.ts';
import { HOLDERS_PER_GPU, hostsFromSamples } from './fleet-hosts.ts';
import type { FleetHost, FleetLeftOut } from './fleet-types.ts';
import { DCGM, DCGM_METRICS, DCGM_UNIT_BYTES, USED_METRICS, VG, VG_GPU_NAMED, VG_GPU_PLAIN } from './metric-names.ts';
import { instantQuery, rangeQuery, type MatrixSeries, type PromApiOptions } from './prom-api.ts';
import type { PromSample } from './prom-text.ts';

export const SPARKLINE_WINDOW_S = 3600;
export const SPARKLINE_POINTS = 30;

export interface PrometheusFleetOptions extends PromApiOptions {
  ours: ThresholdSpec;
  /** A host whose newest sample is older than this is stale. */
  staleAfterMs: number;
  /** Milliseconds since the epoch. */
  now: number;
  /** Receives each GPU left out, with its reason. */
  leftOut?: FleetLeftOut[];
}

const names = (list: readonly string[]) => `{__name__=~"${list.join('|')}"}`;

/** The queries, for the docs and the benchmark's recorded replies. */
export function fleetQueries(): { latest: string; holders: string; scraped: string; used: string } {
  const vgUsed = `last_over_time(${VG.used}[1h])`;
  return {
    // `max by (__name__, …)` keeps the name and only the labels the fleet reads.
    latest:
      `max by (__name__, instance, hostname, gpu, uuid, name) (last_over_time(${names(VG_GPU_NAMED)}[1h]))` +
      ` or max by (__name__, instance, gpu, level) (last_over_time(${names(VG_GPU_PLAIN)}[1h]))` +
      ` or max by (__name__, instance, hostname) (last_over_time(${VG.lastSample}[1h]))` +
      ` or max by (__name__, instance, Hostname, gpu, UUID, modelName) (last_over_time(${names(DCGM_METRICS)}[1h]) unless on(instance) ${vgUsed})`,
    holders: `topk by (instance, gpu) (${HOLDERS_PER_GPU}, sum by (instance, hostname, gpu, task, server, process) (${VG.process}))`,
    scraped: `max by (instance) (timestamp(${names(USED_METRICS)}))`,
    // One small series per GPU, in MiB: labels and digits are most of a range reply.
    used: `max by (instance, gpu) (round(${VG.used} / ${DCGM_UNIT_BYTES}) or (${DCGM.used} unless on(instance) ${VG.used}))`,
  };
}

export async function readPrometheusFleet(options: PrometheusFleetOptions): Promise<FleetHost[]> {
  const q = fleetQueries();
  // Evaluated at now, to the millisecond: a target that went down a moment ago is already stale.
  const end = Math.round(options.now) / 1000;
  const step = SPARKLINE_WINDOW_S / SPARKLINE_POINTS;
  const [latest, holders, scraped, used] = await Promise.all([
    instantQuery(options, q.latest, end),
    instantQuery(options, q.holders, end),
    instantQuery(options, q.scraped, end),
    rangeQuery(options, q.used, end - SPARKLINE_WINDOW_S + step, end, step),
  ]);
  const samples: PromSample[] = latest;
  for (const s of holders) {
    s.name = VG.process;
    samples.push(s);
  }
  const hosts = hostsFromSamples(samples, { defaultInstance: options.baseUrl, source: options.baseUrl, ours: options.ours, leftOut: options.leftOut });
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
  const sinceS = stale.map((h) => (h.stale?.since == null ? null : h.stale.since / 1000));
  const from = Math.min(...sinceS.map((t) => t ?? nowS - 600));
  const to = Math.min(nowS, Math.max(...sinceS.map((t) => (t === null ? nowS : t + stepS))));
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
    const host = stale.find((h) => h.instance === m.labels.instance);
    if (t !== undefined && host?.stale) {
      host.stale.since = Math.max(host.stale.since ?? 0, t * 1000);
      host.lastSampleAt = host.stale.since;
    }
  }
}

const seriesKey = (instance: string, gpu: string) => `${instance}|${gpu}`;

function applyTimes(
  hosts: FleetHost[],
  scraped: Array<{ labels: Record<string, string>; value: number }>,
  used: MatrixSeries[],
  options: PrometheusFleetOptions,
  stepS: number,
): void {
  const lastScrape = new Map<string, number>();
  for (const s of scraped) {
    const instance = s.labels.instance ?? '';
    if (Number.isFinite(s.value)) lastScrape.set(instance, Math.max(lastScrape.get(instance) ?? 0, s.value * 1000));
  }
  const lines = new Map<string, MatrixSeries>();
  const lastPoint = new Map<string, number>();
  for (const m of used) {
    const instance = m.labels.instance ?? '';
    lines.set(seriesKey(instance, m.labels.gpu ?? ''), m);
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
      const line = lines.get(seriesKey(host.instance, String(gpu.index)));
      if (line) gpu.sparkline = evenly(line, endS, stepS, DCGM_UNIT_BYTES);
    }
  }
}

/** The series on the query's grid (oldest first); a step with no value is NaN (a gap). */
function evenly(line: MatrixSeries, endS: number, stepS: number, scale: number): number[] {
  const out = new Array<number>(SPARKLINE_POINTS).fill(NaN);
  line.t.forEach((t, i) => {
    const slot = SPARKLINE_POINTS - 1 - Math.round((endS - t) / stepS);
    const v = line.v[i];
    if (slot >= 0 && slot < SPARKLINE_POINTS && v !== undefined) out[slot] = v * scale;
  });
  return out;
}
