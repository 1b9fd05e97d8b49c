/**
 * What one GPU source tells the rest of VRAM Guard about itself: how it is opened, the options it
 * reads (each perhaps a `vramGuard.*` setting and a CLI flag), and its names. One entry per source in
 * `sources/`; `source-registry.ts` lists them, and the probe, the settings and the CLI read that list.
 */
import type { GpuSource } from './types.ts';

export type SourceOpenResult = { ok: true; source: GpuSource } | { ok: false; reason: string };

/** What every open gets besides the source's own options. */
export interface SourceOpenContext {
  /** The environment the source's library or tool runs with (PATH, VRAM_GUARD_NVML_LIBRARY). */
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
  /** Ends an open in flight (the watcher stopped). */
  signal?: AbortSignal | undefined;
}

export interface NumberSetting {
  type: 'number';
  default: number;
  minimum: number;
  maximum: number;
}

export interface StringSetting {
  /** `file`: a path relative to the workspace folder, and when empty the `bundled` file (relative to the extension), if any. */
  type: 'string' | 'file';
  /** Also the value an empty setting stands for. */
  default: string;
  bundled?: string;
}

/** The setting `vramGuard.<option>`, as package.json declares it. */
export type SourceSetting<Value> = (Value extends number ? NumberSetting : StringSetting) & {
  /** An untrusted workspace cannot set it: what VRAM Guard loads or runs, or where its figures come from. */
  restricted: boolean;
};

/** The CLI flag `--<name> <value>` that sets the option, in every command that reads the GPU. */
export interface SourceFlag<Value> {
  name: string;
  /** The value's placeholder in the help: PATH, FILE, N. */
  value: string;
  help: string;
  type: Value extends number ? 'positive number' : 'string';
  /** The source cannot open without it: `--source <kind> needs --<name> <value>`. */
  required?: boolean;
}

/**
 * One GPU source. `Options` are the probe options it reads; `SettingKey` those that are settings
 * (`vramGuard.<key>`), `FlagKey` those that are CLI flags.
 */
export interface GpuSourceEntry<
  Kind extends string,
  Options,
  SettingKey extends keyof Options & string = never,
  FlagKey extends keyof Options & string = never,
> {
  kind: Kind;
  /** Its name in reasons and log lines: "no NVML: …", "NVML unavailable: …". */
  label: string;
  /** `auto` tries it, in the registry's order; a source `auto` skips is used only when named. */
  auto: boolean;
  /** What choosing it means, among the setting's choices (package.json's `enumDescriptions`). */
  summary: string;
  settings: { readonly [K in SettingKey]: SourceSetting<NonNullable<Options[K]>> };
  flags: { readonly [K in FlagKey]: SourceFlag<NonNullable<Options[K]>> };
  /** Opens it; a failure is a reason, never a throw. */
  open(options: Options, context: SourceOpenContext): Promise<SourceOpenResult>;
}
