/**
 * Picks the GPU source: NVML, else nvidia-smi, else none — with the reason, never a throw.
 * `replay` plays a recorded trace instead (a simulated GPU).
 */
import { openNvidiaSmi } from './nvidia-smi-source.ts';
import { openNvmlWorker } from './nvml-worker-source.ts';
import { openReplay } from './replay-source.ts';
import type { GpuSource } from './types.ts';

export const SOURCE_PREFERENCES = ['auto', 'nvml', 'nvidia-smi', 'replay'] as const;
export type SourcePreference = (typeof SOURCE_PREFERENCES)[number];

export interface ProbeOptions {
  preference: SourcePreference;
  nvmlLibraryPath?: string | undefined;
  nvidiaSmiPath?: string | undefined;
  nvidiaSmiTimeoutMs?: number | undefined;
  /** How long nvmlInit and one NVML sample may take before the driver counts as not answering. */
  nvmlInitTimeoutMs?: number | undefined;
  nvmlSampleTimeoutMs?: number | undefined;
  /** The trace a `replay` source plays. */
  replayFile?: string | undefined;
  replaySpeed?: number | undefined;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
  /** Ends a probe in flight (the watcher stopped): an NVML worker still starting is killed. */
  signal?: AbortSignal | undefined;
}

export type ProbeResult = { ok: true; source: GpuSource } | { ok: false; reason: string };

export async function probeSource(options: ProbeOptions): Promise<ProbeResult> {
  const log = options.log ?? (() => {});
  const env = options.env ?? process.env;
  const reasons: string[] = [];

  if (options.preference === 'replay') {
    const replay = await openReplay({ file: options.replayFile ?? '', speed: options.replaySpeed, log });
    return replay.ok ? replay : { ok: false, reason: `no replay: ${replay.reason}` };
  }

  if (options.preference !== 'nvidia-smi') {
    // In a worker thread: no driver call runs on the caller's thread, and a hung one has a timeout.
    const nvml = await openNvmlWorker({
      libraryPath: options.nvmlLibraryPath,
      env,
      log,
      initTimeoutMs: options.nvmlInitTimeoutMs,
      sampleTimeoutMs: options.nvmlSampleTimeoutMs,
      signal: options.signal,
    });
    if (nvml.ok) return nvml;
    reasons.push(`no NVML: ${nvml.reason}`);
    log(`NVML unavailable: ${nvml.reason}`);
    if (options.preference === 'nvml' || options.signal?.aborted) return { ok: false, reason: reasons.join('; ') };
  }

  const smi = await openNvidiaSmi({ executable: options.nvidiaSmiPath, timeoutMs: options.nvidiaSmiTimeoutMs, env, log });
  if (smi.ok) return smi;
  reasons.push(`no nvidia-smi: ${smi.reason}`);
  log(`nvidia-smi unavailable: ${smi.reason}`);
  return { ok: false, reason: reasons.join('; ') };
}
