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
import { numberSetting } from '../core/number-setting.ts';

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
  return {
    retentionMs: numberSetting(get, 'history.retentionDays', { fallback: DEFAULT_RETENTION_DAYS, min: 0.01, max: 366 }, problems) * DAY_MS,
    maxFileBytes: Math.round(numberSetting(get, 'history.maxFileMB', { fallback: DEFAULT_MAX_FILE_MB, min: 1, max: 1024 }, problems) * MiB),
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
  const recordSeconds = numberSetting(get, 'aec.recordSeconds', { fallback: defaultRecordSeconds, min: 0.2, max: 30, unit: 'seconds' }, problems);
  return { sourceName: sourceName as string, format: format.format, recordSeconds };
}
