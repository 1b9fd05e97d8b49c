/**
 * Every `vramGuard.*` section read and validated in one pass: the general settings, the fallback
 * chain, pre-flight, history, the budget spike and the echo-cancellation check. Pure: it is handed a
 * getter (keys after `vramGuard.`), so it runs and is tested without VS Code. Each invalid value
 * yields one sentence naming the setting and what is used instead; `problems` holds them all.
 */
import { validateFormat, type AudioFormat } from '../core/aec/audio-format.ts';
import { defaultRecordSeconds, defaultSourceName } from '../core/aec/verify.ts';
import { TIMING_KEY_NAMES, timingValue } from '../core/checks/spike-spec.ts';
import { readFallbackSettings, type FallbackSettings } from '../core/fallback/config.ts';
import { readFleetSettings, type FleetSettings } from '../core/fleet/fleet-settings.ts';
import { DAY_MS, DEFAULT_MAX_FILE_MB, DEFAULT_RETENTION_DAYS } from '../core/history/store.ts';
import { MiB } from '../core/units.ts';
import { readPreflightSettings, type PreflightSettings } from './preflight/preflight-settings.ts';
import { readSettings, type SettingGetter, type Settings } from './settings.ts';

export interface HistorySettings {
  retentionMs: number;
  maxFileBytes: number;
}

export interface AecSettings {
  sourceName: string;
  format: AudioFormat;
  recordSeconds: number;
}

export interface AllSettings {
  general: Settings;
  fallback: FallbackSettings;
  preflight: PreflightSettings;
  history: HistorySettings;
  /** `vramGuard.spike.*`: the valid timing keys of a spec file (settleSeconds, samples, ...), as set. */
  spikeTiming: Record<string, unknown>;
  aec: AecSettings;
  /** `vramGuard.fleet.*`: the other hosts' sources. */
  fleet: FleetSettings;
  /** Every problem of every section, once. */
  problems: string[];
}

export function readAllSettings(get: SettingGetter): AllSettings {
  const general = readSettings(get);
  const fallback = readFallbackSettings(get);
  const preflight = readPreflightSettings(get);
  const fleet = readFleetSettings(get);
  const problems = [...general.problems, ...fallback.problems, ...preflight.problems, ...fleet.problems];
  return {
    general,
    fallback,
    preflight,
    history: readHistorySettings(get, problems),
    spikeTiming: readSpikeTiming(get, problems),
    aec: readAecSettings(get, problems),
    fleet,
    problems,
  };
}

/** `vramGuard.history.retentionDays` (default 7) and `vramGuard.history.maxFileMB` (default 16). */
export function readHistorySettings(get: SettingGetter, problems: string[]): HistorySettings {
  const number = (key: string, fallback: number, min: number, max: number): number => {
    const v = get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max) return v;
    problems.push(`vramGuard.${key} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}. Using ${fallback}.`);
    return fallback;
  };
  return {
    retentionMs: number('history.retentionDays', DEFAULT_RETENTION_DAYS, 0.01, 366) * DAY_MS,
    maxFileBytes: Math.round(number('history.maxFileMB', DEFAULT_MAX_FILE_MB, 1, 1024) * MiB),
  };
}

/** The spike's timing keys as settings; a value out of range is named and left out (the default applies). */
export function readSpikeTiming(get: SettingGetter, problems: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of TIMING_KEY_NAMES) {
    const v = get(`spike.${key}`);
    if (v === undefined || v === null) continue;
    const before = problems.length;
    const checked = timingValue(key, v, 'vramGuard.spike.', problems);
    if (checked === null) problems[before] = `${problems[before]} Using the default.`;
    else out[key] = v;
  }
  return out;
}

/** `vramGuard.aec.*`; a wrong value is named and replaced by its default. */
export function readAecSettings(get: SettingGetter, problems: string[]): AecSettings {
  let sourceName = get('aec.sourceName') ?? defaultSourceName;
  if (typeof sourceName !== 'string' || sourceName.trim() === '') {
    problems.push(`vramGuard.aec.sourceName must be a source name, not ${JSON.stringify(sourceName)}. Using "${defaultSourceName}".`);
    sourceName = defaultSourceName;
  }
  const format = validateFormat(get('aec.format') ?? { sampleFormat: 's16le', channels: 1, rate: 24000 });
  for (const p of format.problems) problems.push(`vramGuard.aec.format: ${p}. Using the default for it.`);
  let recordSeconds = get('aec.recordSeconds') ?? defaultRecordSeconds;
  if (typeof recordSeconds !== 'number' || !Number.isFinite(recordSeconds) || recordSeconds < 0.2 || recordSeconds > 30) {
    problems.push(
      `vramGuard.aec.recordSeconds must be a number of seconds from 0.2 to 30, not ${JSON.stringify(recordSeconds)}. Using ${defaultRecordSeconds}.`,
    );
    recordSeconds = defaultRecordSeconds;
  }
  return { sourceName: sourceName as string, format: format.format, recordSeconds: recordSeconds as number };
}
