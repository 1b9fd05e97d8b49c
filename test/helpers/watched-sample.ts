/** One GPU's watched sample, as the watcher hands it to its listeners: the tests' shared builder. */
import { emptyDevice } from '../../src/core/gpu/types.ts';
import type { Level } from '../../src/core/watch/levels.ts';
import type { WatchedSample } from '../../src/core/watch/watcher.ts';

export interface OneGpu {
  time: number;
  name: string;
  totalBytes: number;
  usedBytes: number;
  /** Free as NVML reports it (default: total − used). */
  freeBytes?: number;
  level: Level;
}

export function oneGpuSample(g: OneGpu): WatchedSample {
  return {
    sample: {
      source: 'nvml',
      timestamp: g.time,
      driverVersion: null,
      sourceVersion: null,
      devices: [
        {
          ...emptyDevice(0),
          name: g.name,
          memory: { total: g.totalBytes, used: g.usedBytes, free: g.freeBytes ?? g.totalBytes - g.usedBytes, reserved: null },
        },
      ],
    },
    levels: [g.level],
    thresholds: [null],
  };
}
