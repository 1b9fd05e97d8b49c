/** NVML (libnvidia-ml) in a worker process: the first choice. */
import { openNvmlWorker } from '../nvml-worker-source.ts';
import type { GpuSourceEntry } from '../source-entry.ts';

export interface NvmlProbeOptions {
  nvmlLibraryPath?: string | undefined;
  /** How long nvmlInit and one NVML sample may take before the driver counts as not answering. */
  nvmlInitTimeoutMs?: number | undefined;
  nvmlSampleTimeoutMs?: number | undefined;
}

declare module '../types.ts' {
  interface GpuSourceKinds {
    nvml: true;
  }
}

export const nvml: GpuSourceEntry<'nvml', NvmlProbeOptions, 'nvmlLibraryPath', 'nvmlLibraryPath'> = {
  kind: 'nvml',
  label: 'NVML',
  auto: true,
  summary: 'Only NVML (libnvidia-ml).',
  settings: { nvmlLibraryPath: { type: 'string', default: '', restricted: true } },
  flags: {
    nvmlLibraryPath: {
      name: 'nvml-library',
      value: 'PATH',
      type: 'string',
      help: "the libnvidia-ml to load (else $VRAM_GUARD_NVML_LIBRARY, else the system's)",
    },
  },
  // In a worker process: no driver call runs on the caller's thread, and a hung one has a timeout.
  open: (options, { env, log, signal }) =>
    openNvmlWorker({
      libraryPath: options.nvmlLibraryPath,
      env,
      log,
      initTimeoutMs: options.nvmlInitTimeoutMs,
      sampleTimeoutMs: options.nvmlSampleTimeoutMs,
      signal,
    }),
};
