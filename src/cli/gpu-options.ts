/** The options `status` and `watch` share: where to read the GPU from, and the thresholds. */
import { probeSource, SOURCE_PREFERENCES, type ProbeResult, type SourcePreference } from '../core/gpu/probe.ts';
import type { GpuSample, GpuSource } from '../core/gpu/types.ts';
import { Watcher } from '../core/watch/watcher.ts';
import type { ThresholdSpec } from '../core/watch/thresholds.ts';
import { stringFlag, thresholdFlags, UsageError, type ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';

/** The exit code of a command that found no GPU source (the reason goes to stderr). */
export const EXIT_NO_SOURCE = 2;

export const GPU_VALUE_FLAGS = ['nvml-library', 'source', 'nvidia-smi', 'replay-file', 'replay-speed', 'thresholds', 'hysteresis'] as const;

export const GPU_OPTIONS_HELP = `  --source auto|nvml|nvidia-smi|replay  where to read the GPU from (auto: NVML, else nvidia-smi; replay: --replay-file)
  --nvml-library PATH             the libnvidia-ml to load (else $VRAM_GUARD_NVML_LIBRARY, else the system's)
  --nvidia-smi PATH               the nvidia-smi executable (default: nvidia-smi on PATH)
  --replay-file FILE              the trace to play with --source replay (docs/trace-format.md)
  --replay-speed N                trace seconds per second (default 1)
  --thresholds warning=80%,critical=90%,emergency=95%  levels, each in %, MiB or GiB (e.g. warning=6144MiB)
  --hysteresis 2%                 how far below a threshold usage must fall to leave its level`;

export interface GpuOptions {
  /** Opens the GPU source; `signal` ends an open in flight. */
  probe: (signal?: AbortSignal) => Promise<ProbeResult>;
  thresholds: ThresholdSpec;
}

export function gpuOptions(parsed: ParsedArgs, env: NodeJS.ProcessEnv): GpuOptions {
  const source = stringFlag(parsed, 'source') ?? 'auto';
  if (!(SOURCE_PREFERENCES as readonly string[]).includes(source)) {
    throw new UsageError(`--source must be one of ${SOURCE_PREFERENCES.join(', ')}`);
  }
  const thresholds = thresholdFlags(parsed);
  const replayFile = stringFlag(parsed, 'replay-file');
  if (source === 'replay' && !replayFile) throw new UsageError('--source replay needs --replay-file FILE');
  const speedText = stringFlag(parsed, 'replay-speed');
  const replaySpeed = speedText === undefined ? undefined : Number(speedText);
  if (replaySpeed !== undefined && !(replaySpeed > 0)) throw new UsageError(`--replay-speed must be a positive number (got "${speedText}")`);
  return {
    thresholds,
    probe: (signal) =>
      probeSource({
        preference: source as SourcePreference,
        nvmlLibraryPath: stringFlag(parsed, 'nvml-library'),
        nvidiaSmiPath: stringFlag(parsed, 'nvidia-smi'),
        replayFile,
        replaySpeed,
        env,
        signal,
      }),
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
