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

/**
 * Why a threshold (a level's start, or a fallback trigger) can never work: "0%" or "0MiB" is met by
 * every reading, so it always fires and its level can never be left; "100%" is never reached (used
 * memory stays below the total), so it never fires. Null when it can.
 */
export function thresholdProblem(spec: SizeSpec): string | null {
  if (spec.kind === 'percent') {
    if (spec.percent <= 0) return `"${formatSizeSpec(spec)}" is met by every reading, so it would always fire and could never be left: use a value above 0%`;
    if (spec.percent >= 100)
      return `"${formatSizeSpec(spec)}" is never reached (used memory stays below the total), so it would never fire: use a value below 100%`;
  } else if (spec.bytes <= 0) return `"${formatSizeSpec(spec)}" is met by every reading, so it would always fire and could never be left: use a size above 0`;
  return null;
}

/** Why the hysteresis does not fit between thresholds of the same kind (percent or bytes), or null. */
function hysteresisProblem(levels: Pick<ThresholdSpec, 'warning' | 'critical' | 'emergency'>, hysteresis: SizeSpec): string | null {
  const all = [levels.warning, levels.critical, levels.emergency];
  if (!all.every((l) => l.kind === hysteresis.kind)) return null; // mixed: checked per GPU in resolveThresholds
  const v = (s: SizeSpec) => (s.kind === 'bytes' ? s.bytes : s.percent);
  const gaps = [v(levels.warning), v(levels.critical) - v(levels.warning), v(levels.emergency) - v(levels.critical)];
  const smallest = Math.min(...gaps);
  if (v(hysteresis) < smallest) return null;
  const show = (x: number) => (hysteresis.kind === 'percent' ? `${Math.round(x * 1000) / 1000}%` : formatMiB(x));
  return `the hysteresis ${formatSizeSpec(hysteresis)} must be smaller than the gaps between the thresholds (the smallest is ${show(smallest)}, ${smallest === gaps[0] ? 'from 0 to warning' : smallest === gaps[1] ? 'from warning to critical' : 'from critical to emergency'}), or a level could never be left`;
}

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
    else {
      const problem = hysteresisProblem(spec, h);
      if (problem) problems.push(`${names.hysteresis}: ${problem}. Using the default, ${DEFAULT_HYSTERESIS_TEXT}.`);
      else spec.hysteresis = h;
    }
  }
  // The default hysteresis must fit too (thresholds 2% apart or closer): it shrinks to half the
  // smallest gap. The user did not choose it, so this is no settings problem.
  if (hysteresisProblem(spec, spec.hysteresis)) {
    const v = (x: SizeSpec) => (x.kind === 'bytes' ? x.bytes : x.percent);
    const smallest = Math.min(v(spec.warning), v(spec.critical) - v(spec.warning), v(spec.emergency) - v(spec.critical));
    spec.hysteresis = spec.hysteresis.kind === 'percent' ? { kind: 'percent', percent: smallest / 2 } : { kind: 'bytes', bytes: Math.floor(smallest / 2) };
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
    else {
      const never = thresholdProblem(parsed);
      if (never) errors.push(`${name}: ${never}`);
      else out[name] = parsed;
    }
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
      problems.push(
        `${setting}: warning < critical < emergency is required, got ${NAMES.map((n) => `${n} ${formatSizeSpec(levels[n])}`).join(', ')}. ${defaults}`,
      );
      return undefined;
    }
  }
  return levels;
}

/**
 * Bytes for one GPU. When the configured values do not fit this GPU (above its total, or out of
 * order once percentages and sizes are mixed), the defaults are used and the problem is returned.
 */
export function resolveThresholds(
  spec: ThresholdSpec,
  total: number,
  setting = 'vramGuard.thresholds',
): { thresholds: ResolvedThresholds; problem: string | null } {
  const r = (s: ThresholdSpec): ResolvedThresholds => ({
    warning: resolveSize(s.warning, total),
    critical: resolveSize(s.critical, total),
    emergency: resolveSize(s.emergency, total),
    hysteresis: resolveSize(s.hysteresis, total),
  });
  const t = r(spec);
  const above = NAMES.filter((n) => t[n] >= total);
  let problem: string | null = null;
  if (above.length) {
    problem = `${setting}: ${above.map((n) => `${n} ${formatSizeSpec(spec[n])}`).join(', ')} is ${above.some((n) => t[n] > total) ? 'above' : 'equal to'} this GPU's total of ${formatMiB(total)} (used memory never reaches it)`;
  } else if (!(t.warning < t.critical && t.critical < t.emergency)) {
    problem = `${setting}: on this GPU (${formatMiB(total)}) the thresholds are out of order: ${NAMES.map((n) => `${n} ${formatMiB(t[n])}`).join(', ')}`;
  } else if (t.hysteresis >= Math.min(t.warning, t.critical - t.warning, t.emergency - t.critical)) {
    // Mixed units, seen only now: the hysteresis shrinks to fit this GPU.
    const smallest = Math.min(t.warning, t.critical - t.warning, t.emergency - t.critical);
    return {
      thresholds: { ...t, hysteresis: Math.floor(smallest / 2) },
      problem: `${setting}: on this GPU (${formatMiB(total)}) the hysteresis ${formatSizeSpec(spec.hysteresis)} is not smaller than the smallest gap between the thresholds (${formatMiB(smallest)}). Using ${formatMiB(Math.floor(smallest / 2))} for it.`,
    };
  }
  if (!problem) return { thresholds: t, problem: null };
  const fallback = r({ ...DEFAULT_THRESHOLDS, hysteresis: spec.hysteresis });
  return { thresholds: fallback, problem: `${problem}. Using the defaults (80% / 90% / 95%) for it.` };
}
