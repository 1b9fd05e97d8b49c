/**
 * Reads and validates the `vramGuard.*` settings. Pure: it is handed a getter, so it runs (and is
 * tested) without VS Code. Every invalid value yields one sentence naming the setting, and the default.
 */
import { isSourcePreference, SOURCE_PREFERENCES, sourceSettings, type SourcePreference, type SourceSettingValues } from '../core/gpu/source-registry.ts';
import { GiB, MiB, parseSize } from '../core/units.ts';
import { parseThresholds, type ThresholdSpec } from '../core/watch/thresholds.ts';
import { DEFAULT_ADAPTIVE, type AdaptiveRate } from '../core/watch/watcher.ts';
import { numberSetting } from '../core/number-setting.ts';

/** The sources' own settings (`nvmlLibraryPath`, `replayFile`, …) come from the source registry. */
export interface Settings extends SourceSettingValues {
  source: SourcePreference;
  sampleIntervalMs: number;
  /** Process lists are read at least this often; more often only when used memory moves or a view shows them. */
  processListIntervalSeconds: number;
  adaptiveRate: AdaptiveRate;
  thresholds: ThresholdSpec;
  statusBarGpu: 'worst' | number;
  hideWhenNoGpu: boolean;
  notifyOnWarning: boolean;
  notificationMinIntervalSeconds: number;
  /** Growth beyond a server's settled baseline that notifies: the larger of this share of it and `leakDeltaMiB`. */
  leakDeltaPercent: number;
  leakDeltaMiB: number;
  /** Available system RAM below this (MiB) notifies once; 0 never. */
  minAvailableRamMiB: number;
  /** `vramGuard.terminal.cli`: `vram-guard` on the PATH of integrated terminals and tasks. */
  terminalCli: boolean;
  /** `vramGuard.dashboard.openOnStartup`: the dashboard opens beside the editor with the window. */
  dashboardOpenOnStartup: boolean;
  /** `vramGuard.servers.uptimeTargetHours`: the uptime a server card measures itself against. */
  uptimeTargetHours: number;
  problems: string[];
}

export type SettingGetter = (key: string) => unknown;

/**
 * Settings an untrusted workspace cannot set (package.json's `restrictedConfigurations` lists the
 * same): what VRAM Guard loads or runs, where its GPU figures come from (a workspace could make the
 * status bar show a fake GPU), and the thresholds the fallback chain acts on.
 */
export const RESTRICTED_SETTINGS: readonly string[] = [
  'source',
  ...sourceSettings()
    .filter(([, setting]) => setting.restricted)
    .map(([key]) => key),
  'fallbackChain',
  'thresholds',
  'hysteresis',
];

/** What `WorkspaceConfiguration.inspect` tells about one setting (the scopes VRAM Guard reads). */
export interface SettingInspection {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/**
 * A getter that, in an untrusted workspace, ignores the workspace's (and its folders') values of the
 * restricted settings: the user's own settings, else the default. VS Code does the same for settings
 * listed in `restrictedConfigurations`; reading them this way keeps it so wherever the settings come from.
 */
export function trustAwareGetter(get: SettingGetter, inspect: (key: string) => SettingInspection | undefined, trusted: boolean): SettingGetter {
  if (trusted) return get;
  const restricted = new Set<string>(RESTRICTED_SETTINGS);
  return (key) => {
    if (!restricted.has(key)) return get(key);
    const i = inspect(key);
    // Only a value the workspace set is replaced: otherwise the value read is already the user's (or machine's) or the default.
    if (i?.workspaceValue === undefined && i?.workspaceFolderValue === undefined) return get(key);
    return i.globalValue !== undefined ? i.globalValue : i.defaultValue;
  };
}

/** The workspace values of restricted settings an untrusted workspace tried to set (for a log line). */
export function ignoredWorkspaceSettings(inspect: (key: string) => SettingInspection | undefined, trusted: boolean): string[] {
  if (trusted) return [];
  return RESTRICTED_SETTINGS.filter((k) => {
    const i = inspect(k);
    return i?.workspaceValue !== undefined || i?.workspaceFolderValue !== undefined;
  }).map((k) => `${P}${k}`);
}

const P = 'vramGuard.';

export function readSettings(get: SettingGetter): Settings {
  const problems: string[] = [];
  const number = (key: string, fallback: number, min: number, max: number): number => numberSetting(get, key, { fallback, min, max }, problems);
  const bool = (key: string, fallback: boolean): boolean => {
    const v = get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      problems.push(`${P}${key} must be true or false, got ${JSON.stringify(v)}. Using ${fallback}.`);
      return fallback;
    }
    return v;
  };
  const string = (key: string, fallback: string): string => {
    const v = get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') {
      problems.push(`${P}${key} must be a string, got ${JSON.stringify(v)}. Using "${fallback}".`);
      return fallback;
    }
    return v.trim();
  };

  let source: SourcePreference = 'auto';
  const rawSource = get('source');
  if (rawSource !== undefined && rawSource !== null) {
    if (isSourcePreference(rawSource)) source = rawSource;
    else problems.push(`${P}source must be one of ${SOURCE_PREFERENCES.join(', ')}, got ${JSON.stringify(rawSource)}. Using "auto".`);
  }

  const parsed = parseThresholds(get('thresholds'), get('hysteresis'));
  problems.push(...parsed.problems);

  let statusBarGpu: 'worst' | number = 'worst';
  const rawGpu = get('statusBar.gpu');
  if (rawGpu !== undefined && rawGpu !== null && rawGpu !== 'worst') {
    if (typeof rawGpu === 'number' && Number.isInteger(rawGpu) && rawGpu >= 0) statusBarGpu = rawGpu;
    else problems.push(`${P}statusBar.gpu must be "worst" or a GPU index (0, 1, ...), got ${JSON.stringify(rawGpu)}. Using "worst".`);
  }

  return {
    source,
    // An empty string setting stands for its default.
    ...(Object.fromEntries(
      sourceSettings().map(([key, s]) => [key, s.type === 'number' ? number(key, s.default, s.minimum, s.maximum) : string(key, s.default) || s.default]),
    ) as SourceSettingValues),
    sampleIntervalMs: number('sampleIntervalMs', 1000, 100, 60_000),
    processListIntervalSeconds: number('processListIntervalSeconds', 5, 1, 3600),
    adaptiveRate: readAdaptive(get('adaptiveRate'), problems),
    thresholds: parsed.spec,
    statusBarGpu,
    hideWhenNoGpu: bool('statusBar.hideWhenNoGpu', false),
    notifyOnWarning: bool('notifications.onWarning', false),
    notificationMinIntervalSeconds: number('notifications.minIntervalSeconds', 300, 0, 86_400),
    leakDeltaPercent: number('leak.deltaPercent', 10, 1, 1000),
    leakDeltaMiB: number('leak.deltaMiB', 256, 16, (1024 * GiB) / MiB),
    minAvailableRamMiB: number('system.minAvailableRamMiB', 512, 0, 16_777_216),
    terminalCli: bool('terminal.cli', true),
    dashboardOpenOnStartup: bool('dashboard.openOnStartup', false),
    uptimeTargetHours: number('servers.uptimeTargetHours', 8, 0.1, 8760),
    problems,
  };
}

function readAdaptive(value: unknown, problems: string[]): AdaptiveRate {
  if (value === undefined || value === null) return DEFAULT_ADAPTIVE;
  const key = `${P}adaptiveRate`;
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${key} must be an object like { "enabled": true, "fastIntervalMs": 250, "calmIntervalMs": 2000, "margin": "5%" }. Using the defaults.`);
    return DEFAULT_ADAPTIVE;
  }
  const v = value as Record<string, unknown>;
  const out: AdaptiveRate = { ...DEFAULT_ADAPTIVE };
  const errors: string[] = [];
  if (v.enabled !== undefined) {
    if (typeof v.enabled === 'boolean') out.enabled = v.enabled;
    else errors.push('enabled must be true or false');
  }
  for (const k of ['fastIntervalMs', 'calmIntervalMs'] as const) {
    if (v[k] === undefined) continue;
    const n = v[k];
    if (typeof n === 'number' && Number.isFinite(n) && n >= 50 && n <= 600_000) out[k] = n;
    else errors.push(`${k} must be a number of milliseconds from 50 to 600000`);
  }
  if (v.margin !== undefined) {
    const m = parseSize(v.margin);
    if ('error' in m) errors.push(`margin: ${m.error}`);
    else out.margin = m;
  }
  if (errors.length) {
    problems.push(`${key}: ${errors.join('; ')}. Using the defaults for those.`);
  }
  return out;
}
