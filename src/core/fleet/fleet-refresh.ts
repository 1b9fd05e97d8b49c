/**
 * One refresh of the whole fleet: every source at once, each bounded in time and size, each with
 * its own outcome. A source that fails this time keeps its hosts from its last good answer, shown
 * stale ("no data since …"), and never stops the others.
 */
import type { ThresholdSpec } from '../watch/thresholds.ts';
import { readExporter } from './exporter-source.ts';
import { disambiguate } from './fleet-hosts.ts';
import type { FleetHost, FleetLeftOut, FleetSnapshot, FleetSourceOutcome } from './fleet-types.ts';
import { readPrometheusFleet } from './prometheus-source.ts';
import { FleetSourceError } from './source-error.ts';
import { errorMessage } from '../errors.ts';
import { MiB } from '../units.ts';

export const SOURCE_TIMEOUT_MS = 5000;
export const PROMETHEUS_MAX_BYTES = 16 * MiB;
export const EXPORTER_MAX_BYTES = 4 * MiB;

export interface FleetSourcesConfig {
  prometheus: string | null;
  targets: string[];
  token: string | null;
  ours: ThresholdSpec;
  /** Default: three refreshes, at least two minutes. */
  staleAfterMs: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class FleetRefresher {
  private readonly lastGood = new Map<string, FleetHost[]>();

  async refresh(config: FleetSourcesConfig, now = Date.now()): Promise<FleetSnapshot> {
    const timeoutMs = config.timeoutMs ?? SOURCE_TIMEOUT_MS;
    const jobs: Array<{ source: string; run: () => Promise<FleetHost[]> }> = [];
    // GPUs the sources answered with but that cannot be shown (implausible figures, disagreeing series).
    const leftOut: FleetLeftOut[] = [];
    if (config.prometheus) {
      const baseUrl = config.prometheus;
      jobs.push({
        source: baseUrl,
        run: () =>
          readPrometheusFleet({
            baseUrl,
            bearerToken: config.token,
            timeoutMs,
            maxBytes: PROMETHEUS_MAX_BYTES,
            ours: config.ours,
            staleAfterMs: config.staleAfterMs,
            now,
            fetch: config.fetch,
            leftOut,
          }),
      });
    }
    for (const url of config.targets) {
      jobs.push({
        source: url,
        run: () =>
          readExporter({
            url,
            timeoutMs,
            maxBytes: EXPORTER_MAX_BYTES,
            ours: config.ours,
            now,
            staleAfterMs: config.staleAfterMs,
            fetch: config.fetch,
            leftOut,
          }),
      });
    }
    const results = await Promise.all(
      jobs.map(async (job): Promise<{ outcome: FleetSourceOutcome; hosts: FleetHost[] }> => {
        const t0 = performance.now();
        try {
          const hosts = await job.run();
          this.lastGood.set(job.source, hosts);
          return { outcome: { source: job.source, ok: true, hosts: hosts.length, ms: performance.now() - t0 }, hosts };
        } catch (err) {
          const e = err instanceof FleetSourceError ? err : new FleetSourceError('malformed', errorMessage(err));
          const kept = (this.lastGood.get(job.source) ?? []).map((h) => ({ ...h, stale: { since: h.stale?.since ?? h.lastSampleAt } }));
          return { outcome: { source: job.source, ok: false, kind: e.kind, error: e.message, ms: performance.now() - t0 }, hosts: kept };
        }
      }),
    );
    const known = new Set(jobs.map((j) => j.source));
    for (const source of [...this.lastGood.keys()]) if (!known.has(source)) this.lastGood.delete(source);
    return { at: now, hosts: disambiguate(results.flatMap((r) => r.hosts)), sources: results.map((r) => r.outcome), leftOut };
  }
}
