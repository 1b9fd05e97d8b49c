/** The nvidia-smi command, one process per sample: when NVML cannot load. */
import { openNvidiaSmi } from '../nvidia-smi-source.ts';
import type { GpuSourceEntry } from '../source-entry.ts';

export interface NvidiaSmiProbeOptions {
  nvidiaSmiPath?: string | undefined;
  /** How long one nvidia-smi run may take before it is killed. */
  nvidiaSmiTimeoutMs?: number | undefined;
}

declare module '../types.ts' {
  interface GpuSourceKinds {
    'nvidia-smi': true;
  }
}

export const nvidiaSmi: GpuSourceEntry<'nvidia-smi', NvidiaSmiProbeOptions, 'nvidiaSmiPath', 'nvidiaSmiPath'> = {
  kind: 'nvidia-smi',
  label: 'nvidia-smi',
  auto: true,
  summary: 'Only the nvidia-smi command (slower: one process per sample).',
  settings: { nvidiaSmiPath: { type: 'string', default: 'nvidia-smi', restricted: true } },
  flags: { nvidiaSmiPath: { name: 'nvidia-smi', value: 'PATH', type: 'string', help: 'the nvidia-smi executable (default: nvidia-smi on PATH)' } },
  open: (options, { env, log }) => openNvidiaSmi({ executable: options.nvidiaSmiPath, timeoutMs: options.nvidiaSmiTimeoutMs, env, log }),
};
