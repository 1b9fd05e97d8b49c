/**
 * Every GPU source, one entry each (`sources/`): the probe walks this list, `SourceKind` and the
 * `vramGuard.source` choices come from it, and so do the sources' settings and CLI flags. A new
 * source is a file in `sources/` and one line here (docs/architecture.md, "A new GPU source").
 */
import type { GpuSourceEntry, NumberSetting, SourceFlag, SourceOpenContext, SourceOpenResult, SourceSetting, StringSetting } from './source-entry.ts';
import { nvidiaSmi } from './sources/nvidia-smi.ts';
import { nvml } from './sources/nvml.ts';
import { replay } from './sources/replay.ts';
import type { SourceKind } from './types.ts';

/** In the order `auto` tries them. */
export const GPU_SOURCES = [nvml, nvidiaSmi, replay] as const;

type Entry = (typeof GPU_SOURCES)[number];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
type OptionsOf<E> = E extends GpuSourceEntry<string, infer O, infer _S, infer _F> ? O : never;
type SettingValuesOf<E> = E extends GpuSourceEntry<string, infer O, infer S, infer _F> ? { [K in S]: NonNullable<O[K]> } : never;

/** Every source's own probe options (paths, timeouts, the trace). */
export type ProbeSourceOptions = UnionToIntersection<OptionsOf<Entry>>;
/** The sources' settings as read: `vramGuard.<key>` → its value. */
export type SourceSettingValues = UnionToIntersection<SettingValuesOf<Entry>>;

/** An entry as the probe, the settings and the CLI walk it. */
interface AnyEntry {
  kind: SourceKind;
  label: string;
  auto: boolean;
  summary: string;
  settings: { readonly [key: string]: SourceSetting<string> | SourceSetting<number> };
  flags: { readonly [key: string]: SourceFlag<string> | SourceFlag<number> };
  open(options: ProbeSourceOptions, context: SourceOpenContext): Promise<SourceOpenResult>;
}

const ENTRIES: readonly AnyEntry[] = GPU_SOURCES;

// The kinds the entries declare (types.ts) are exactly those listed: a source left out fails here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const listsEveryKind: Same<Entry['kind'], SourceKind> = true;
void listsEveryKind;

export type SourcePreference = 'auto' | SourceKind;
export const SOURCE_PREFERENCES: readonly SourcePreference[] = ['auto', ...ENTRIES.map((e) => e.kind)];

export function isSourcePreference(value: unknown): value is SourcePreference {
  return (SOURCE_PREFERENCES as readonly unknown[]).includes(value);
}

/** The sources a preference tries, in order: `auto` those that say so, else the one named. */
export function sourcesFor(preference: SourcePreference): readonly AnyEntry[] {
  return preference === 'auto' ? ENTRIES.filter((e) => e.auto) : ENTRIES.filter((e) => e.kind === preference);
}

/** Every source, as the CLI's help and the settings walk them. */
export function sourceEntries(): readonly AnyEntry[] {
  return ENTRIES;
}

export type AnySourceSetting = (StringSetting | NumberSetting) & { restricted: boolean };

/** Every source's settings, `[key, setting]`, source by source. */
export function sourceSettings(): [keyof SourceSettingValues & string, AnySourceSetting][] {
  return ENTRIES.flatMap((e) => Object.entries(e.settings)) as [keyof SourceSettingValues & string, AnySourceSetting][];
}

/** Every source's CLI flags, `[option, flag]`, source by source. */
export function sourceFlags(): [keyof ProbeSourceOptions & string, SourceFlag<string> | SourceFlag<number>][] {
  return ENTRIES.flatMap((e) => Object.entries(e.flags)) as [keyof ProbeSourceOptions & string, SourceFlag<string> | SourceFlag<number>][];
}

/**
 * The probe's options from the settings' values: an empty string is "not set", and a `file` setting
 * goes through `resolveFile` (relative paths, the bundled default).
 */
export function probeOptionsFromSettings(values: SourceSettingValues, resolveFile: (value: string, bundled: string | undefined) => string): ProbeSourceOptions {
  const options: Record<string, string | number | undefined> = {};
  for (const [key, setting] of sourceSettings()) {
    const value = values[key];
    if (setting.type === 'file') options[key] = resolveFile(value as string, setting.bundled);
    else options[key] = value === '' ? undefined : value;
  }
  return options as ProbeSourceOptions;
}

/** Whether the source must be probed again: its choice or any source's setting changed. */
export function sourceSettingsChanged(
  before: SourceSettingValues & { source: SourcePreference },
  now: SourceSettingValues & { source: SourcePreference },
): boolean {
  return before.source !== now.source || sourceSettings().some(([key]) => before[key] !== now[key]);
}
