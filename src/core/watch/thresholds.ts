/**
 * The WARNING / CRITICAL / EMERGENCY thresholds and the hysteresis, as configured (MiB, GiB or
 * percent of a GPU's total) and as resolved in bytes for one GPU.
 * Invalid settings never throw: they produce a sentence naming the setting, and the defaults.
 */
import { formatMiB, formatSizeSpec, parseSize, resolveSize, type SizeSpec } from '../units.ts';

export interface ThresholdSpec {
  warning: SizeSpec;
  critical: SizeSpec;
  emergency: SizeSpec;
  hysteresis: SizeSpec;
}

export interface ResolvedThresholds {
  warning: number;
  critical: number;
  emergency: number;
  hysteresis: number;
}

export const DEFAULT_THRESHOLD_TEXT = { warning: '80%', critical: '90%', emergency: '95%' } as const;
export const DEFAULT_HYSTERESIS_TEXT = '2%';

export const DEFAULT_THRESHOLDS: ThresholdSpec = {
  warning: { kind: 'percent', percent: 80 },
  critical: { kind: 'percent', percent: 90 },
  emergency: { kind: 'percent', percent: 95 },
  hysteresis: { kind: 'percent', percent: 2 },
};

const NAMES = ['warning', 'critical', 'emergency'] as const;

export interface ParsedThresholds {
  spec: ThresholdSpec;
  problems: string[];
}

/**
 * Reads `{ warning, critical, emergency }` and the hysteresis. `settingName` names the setting in
 * messages (e.g. "vramGuard.thresholds" or "--thresholds").
 */
export function parseThresholds(
  value: unknown,
  hysteresis: unknown,
  names: { thresholds: string; hysteresis: string } = { thresholds: 'vramGuard.thresholds', hysteresis: 'vramGuard.hysteresis' },
): ParsedThresholds {
  const problems: string[] = [];
  let spec: ThresholdSpec = { ...DEFAULT_THRESHOLDS };

  const levels = parseLevels(value, names.thresholds, problems);
  if (levels) spec = { ...spec, ...levels };

  if (hysteresis !== undefined && hysteresis !== null) {
    const h = parseSize(hysteresis);
    if ('error' in h) problems.push(`${names.hysteresis}: ${h.error}. Using the default, ${DEFAULT_HYSTERESIS_TEXT}.`);
    else spec.hysteresis = h;
  }
  return { spec, problems };
}

function parseLevels(value: unknown, setting: string, problems: string[]): Pick<ThresholdSpec, 'warning' | 'critical' | 'emergency'> | undefined {
  if (value === undefined || value === null) return undefined;
  const defaults = `Using the defaults, ${NAMES.map((n) => `${n} ${DEFAULT_THRESHOLD_TEXT[n]}`).join(', ')}.`;
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${setting} must be an object like { "warning": "80%", "critical": "90%", "emergency": "95%" }. ${defaults}`);
    return undefined;
  }
  const record = value as Record<string, unknown>;
  const unknownKeys = Object.keys(record).filter((k) => !(NAMES as readonly string[]).includes(k));
  const out: Partial<Record<(typeof NAMES)[number], SizeSpec>> = {};
  const errors: string[] = [];
  for (const name of NAMES) {
    const raw = record[name] ?? DEFAULT_THRESHOLD_TEXT[name];
    const parsed = parseSize(raw);
    if ('error' in parsed) errors.push(`${name}: ${parsed.error}`);
    else out[name] = parsed;
  }
  if (unknownKeys.length) errors.push(`unknown key${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.map((k) => `"${k}"`).join(', ')}`);
  if (errors.length) {
    problems.push(`${setting}: ${errors.join('; ')}. ${defaults}`);
    return undefined;
  }
  const levels = out as Record<(typeof NAMES)[number], SizeSpec>;
  // Same unit kind: the order can be checked now; mixed kinds are checked per GPU in resolve.
  if (levels.warning.kind === levels.critical.kind && levels.critical.kind === levels.emergency.kind) {
    const v = (s: SizeSpec) => (s.kind === 'bytes' ? s.bytes : s.percent);
    if (!(v(levels.warning) < v(levels.critical) && v(levels.critical) < v(levels.emergency))) {
      problems.push(`${setting}: warning < critical < emergency is required, got ${NAMES.map((n) => `${n} ${formatSizeSpec(levels[n])}`).join(', ')}. ${defaults}`);
      return undefined;
    }
  }
  return levels;
}

/**
 * Bytes for one GPU. When the configured values do not fit this GPU (above its total, or out of
 * order once percentages and sizes are mixed), the defaults are used and the problem is returned.
 */
export function resolveThresholds(spec: ThresholdSpec, total: number, setting = 'vramGuard.thresholds'): { thresholds: ResolvedThresholds; problem: string | null } {
  const r = (s: ThresholdSpec): ResolvedThresholds => ({
    warning: resolveSize(s.warning, total),
    critical: resolveSize(s.critical, total),
    emergency: resolveSize(s.emergency, total),
    hysteresis: resolveSize(s.hysteresis, total),
  });
  const t = r(spec);
  const above = NAMES.filter((n) => t[n] > total);
  let problem: string | null = null;
  if (above.length) {
    problem = `${setting}: ${above.map((n) => `${n} ${formatSizeSpec(spec[n])}`).join(', ')} is above this GPU's total of ${formatMiB(total)}`;
  } else if (!(t.warning < t.critical && t.critical < t.emergency)) {
    problem = `${setting}: on this GPU (${formatMiB(total)}) the thresholds are out of order: ${NAMES.map((n) => `${n} ${formatMiB(t[n])}`).join(', ')}`;
  }
  if (!problem) return { thresholds: t, problem: null };
  const fallback = r({ ...DEFAULT_THRESHOLDS, hysteresis: spec.hysteresis });
  return { thresholds: fallback, problem: `${problem}. Using the defaults (80% / 90% / 95%) for it.` };
}
