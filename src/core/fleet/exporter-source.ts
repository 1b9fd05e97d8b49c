/**
 * One exporter read directly, for people without a Prometheus: a VRAM Guard exporter or a
 * dcgm-exporter's `/metrics` page in the Prometheus text format. A URL without a path gets
 * `/metrics`. The page is bounded in bytes and time and parsed strictly.
 */
import type { ThresholdSpec } from '../watch/thresholds.ts';
import { boundedGet, checkSourceUrl, type BoundedFetchOptions } from './bounded-fetch.ts';
import { hostsFromSamples } from './fleet-hosts.ts';
import type { FleetHost, FleetLeftOut } from './fleet-types.ts';
import { FLEET_METRICS } from './metric-names.ts';
import { parsePromText, type PromSample } from './prom-text.ts';
import { FleetSourceError, quoteStart } from './source-error.ts';

const WANTED = new Set(FLEET_METRICS);

export interface ExporterFleetOptions extends Omit<BoundedFetchOptions, 'accept' | 'bearerToken'> {
  url: string;
  ours: ThresholdSpec;
  now: number;
  /** A host whose exporter's newest sample is older than this is stale. */
  staleAfterMs: number;
  /** Receives each GPU left out, with its reason. */
  leftOut?: FleetLeftOut[];
}

export function exporterUrl(raw: string): URL {
  const url = checkSourceUrl(raw, 'vramGuard.fleet.targets entry');
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/metrics';
  return url;
}

export async function readExporter(options: ExporterFleetOptions): Promise<FleetHost[]> {
  const url = exporterUrl(options.url);
  const reply = await boundedGet(url, { ...options, accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' });
  if (reply.status < 200 || reply.status > 299)
    throw new FleetSourceError('http', `${url.origin}${url.pathname} answered HTTP ${reply.status}: ${quoteStart(reply.text)}`);
  let samples: PromSample[];
  try {
    samples = parsePromText(reply.text, { names: WANTED });
  } catch (err) {
    if (err instanceof FleetSourceError) throw new FleetSourceError(err.kind, `${url.origin}${url.pathname}: ${err.message}`);
    throw err;
  }
  const leftOut: FleetLeftOut[] = [];
  const hosts = hostsFromSamples(samples, { defaultInstance: url.host, source: options.url, ours: options.ours, leftOut });
  options.leftOut?.push(...leftOut);
  // A page whose every GPU was left out is read: what was left out, and why, is reported.
  if (!hosts.length && !leftOut.length)
    throw new FleetSourceError(
      'malformed',
      `${url.origin}${url.pathname} has no GPU memory metrics (neither VRAM Guard's nor dcgm-exporter's): is it an exporter?`,
    );
  for (const h of hosts) {
    h.lastSampleAt ??= options.now;
    if (options.now - h.lastSampleAt > options.staleAfterMs) h.stale = { since: h.lastSampleAt };
  }
  return hosts;
}
