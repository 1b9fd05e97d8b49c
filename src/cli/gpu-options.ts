/** The options `status` and `watch` share: where to read the GPU from, and the thresholds. */
import { probeSource, type ProbeResult } from '../core/gpu/probe.ts';
import { isSourcePreference, SOURCE_PREFERENCES, sourceEntries, sourceFlags, sourcesFor, type ProbeSourceOptions } from '../core/gpu/source-registry.ts';
import type { GpuSample, GpuSource } from '../core/gpu/types.ts';
import { Watcher } from '../core/watch/watcher.ts';
import type { ThresholdSpec } from '../core/watch/thresholds.ts';
import { stringFlag, thresholdFlags, UsageError, type ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';

/** The exit code of a command that found no GPU source (the reason goes to stderr). */
export const EXIT_NO_SOURCE = 2;

/** `--source`, each source's own flags (the registry's), then the thresholds. */
export const GPU_VALUE_FLAGS: readonly string[] = ['source', ...sourceFlags().map(([, flag]) => flag.name), 'thresholds', 'hysteresis'];

/** "auto: NVML, else nvidia-smi; replay: --replay-file": what `auto` tries, and what a source used only when named needs. */
function sourceChoices(): string {
  const auto = `auto: ${sourcesFor('auto')
    .map((e) => e.label)
    .join(', else ')}`;
  const byName = sourceEntries().flatMap((e) => {
    const needs = Object.values(e.flags).filter((f) => f.required);
    return e.auto || !needs.length ? [] : [`${e.kind}: ${needs.map((f) => `--${f.name}`).join(' ')}`];
  });
  return [auto, ...byName].join('; ');
}

function helpLine(left: string, text: string): string {
  return `  ${left}`.length < 32 ? `  ${left}`.padEnd(34) + text : `  ${left}  ${text}`;
}

export const GPU_OPTIONS_HELP = [
  helpLine(`--source ${SOURCE_PREFERENCES.join('|')}`, `where to read the GPU from (${sourceChoices()})`),
  ...sourceFlags().map(([, flag]) => helpLine(`--${flag.name} ${flag.value}`, flag.help)),
  helpLine('--thresholds warning=80%,critical=90%,emergency=95%', 'levels, each in %, MiB or GiB (e.g. warning=6144MiB)'),
  helpLine('--hysteresis 2%', 'how far below a threshold usage must fall to leave its level'),
].join('\n');

export interface GpuOptions {
  /** Opens the GPU source; `signal` ends an open in flight. */
  probe: (signal?: AbortSignal) => Promise<ProbeResult>;
  thresholds: ThresholdSpec;
}

export function gpuOptions(parsed: ParsedArgs, env: NodeJS.ProcessEnv): GpuOptions {
  const source = stringFlag(parsed, 'source') ?? 'auto';
  if (!isSourcePreference(source)) {
    throw new UsageError(`--source must be one of ${SOURCE_PREFERENCES.join(', ')}`);
  }
  const thresholds = thresholdFlags(parsed);
  const [chosen] = source === 'auto' ? [] : sourcesFor(source);
  for (const flag of Object.values(chosen?.flags ?? {})) {
    if (flag.required && !stringFlag(parsed, flag.name)) throw new UsageError(`--source ${source} needs --${flag.name} ${flag.value}`);
  }
  const sourceOptions: Record<string, string | number> = {};
  for (const [option, flag] of sourceFlags()) {
    const text = stringFlag(parsed, flag.name);
    if (text === undefined) continue;
    if (flag.type === 'positive number') {
      const n = Number(text);
      if (!(n > 0)) throw new UsageError(`--${flag.name} must be a positive number (got "${text}")`);
      sourceOptions[option] = n;
    } else sourceOptions[option] = text;
  }
  return {
    thresholds,
    probe: (signal) => probeSource({ ...(sourceOptions as ProbeSourceOptions), preference: source, env, signal }),
  };
}

/**
 * Opens the GPU source, reads one sample and hands both to `use`; the source is closed after. With no
 * source, says why on stderr and returns EXIT_NO_SOURCE.
 */
export async function withOneSample(options: GpuOptions, io: CliIo, use: (sample: GpuSample, source: GpuSource) => Promise<number>): Promise<number> {
  const opened = await options.probe();
  if (!opened.ok) {
    io.stderr(`vram-guard: no GPU source available: ${opened.reason}\n`);
    return EXIT_NO_SOURCE;
  }
  try {
    return await use(await opened.source.sample(Date.now()), opened.source);
  } finally {
    await opened.source.dispose();
  }
}

/** A watcher over these options at `intervalMs`; `fixedRate` turns the adaptive rate off (`--fixed-rate`). */
export function cliWatcher(options: GpuOptions, intervalMs: number, fixedRate: boolean): Watcher {
  return new Watcher({
    openSource: options.probe,
    thresholds: options.thresholds,
    intervalMs,
    adaptive: fixedRate ? { enabled: false, fastIntervalMs: intervalMs, calmIntervalMs: intervalMs, margin: { kind: 'percent', percent: 5 } } : undefined,
  });
}
