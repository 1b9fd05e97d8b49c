/**
 * The fleet settings (`vramGuard.fleet.*`, user or machine scope only), checked where they enter:
 * a bad URL or a value out of range is a sentence naming the setting, and that source is left out.
 */
import { checkSourceUrl } from './bounded-fetch.ts';
import { FleetSourceError } from './source-error.ts';
import { numberSetting } from '../number-setting.ts';

export const DEFAULT_REFRESH_SECONDS = 30;
export const MAX_TARGETS = 100;

export interface FleetSettings {
  /** The Prometheus base URL, or null. */
  prometheus: string | null;
  /** Exporter URLs read directly. */
  targets: string[];
  refreshMs: number;
  notifyCritical: boolean;
  problems: string[];
}

export function readFleetSettings(get: (key: string) => unknown): FleetSettings {
  const problems: string[] = [];
  const url = (value: string, setting: string): string | null => {
    try {
      checkSourceUrl(value, setting);
      return value.trim();
    } catch (err) {
      problems.push(err instanceof FleetSourceError ? err.message : String(err));
      return null;
    }
  };
  const rawProm = get('fleet.prometheus');
  let prometheus: string | null = null;
  if (typeof rawProm === 'string' && rawProm.trim()) prometheus = url(rawProm.trim(), 'vramGuard.fleet.prometheus');
  else if (rawProm !== undefined && rawProm !== null && rawProm !== '')
    problems.push('vramGuard.fleet.prometheus must be a URL such as "http://prometheus.lan:9090".');

  const rawTargets = get('fleet.targets');
  const targets: string[] = [];
  if (Array.isArray(rawTargets)) {
    if (rawTargets.length > MAX_TARGETS) problems.push(`vramGuard.fleet.targets lists ${rawTargets.length} URLs; the first ${MAX_TARGETS} are read.`);
    for (const t of rawTargets.slice(0, MAX_TARGETS)) {
      if (typeof t !== 'string' || !t.trim()) {
        problems.push(`vramGuard.fleet.targets: ${JSON.stringify(t)?.slice(0, 60)} is not a URL; it is left out.`);
        continue;
      }
      const ok = url(t.trim(), 'vramGuard.fleet.targets entry');
      if (ok && !targets.includes(ok)) targets.push(ok);
    }
  } else if (rawTargets !== undefined && rawTargets !== null) {
    problems.push('vramGuard.fleet.targets must be a list of URLs such as ["http://gpu-box:9835/metrics"].');
  }

  const refreshSeconds = numberSetting(get, 'fleet.refreshSeconds', { fallback: DEFAULT_REFRESH_SECONDS, min: 5, max: 3600, unit: 'seconds' }, problems);

  const notifyCritical = get('fleet.notifyCritical') === true;
  return { prometheus, targets, refreshMs: refreshSeconds * 1000, notifyCritical, problems };
}

export function fleetConfigured(s: Pick<FleetSettings, 'prometheus' | 'targets'>): boolean {
  return s.prometheus !== null || s.targets.length > 0;
}
