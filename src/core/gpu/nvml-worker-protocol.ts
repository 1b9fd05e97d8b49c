/** Messages between the NVML worker process (which owns the koffi handle) and the process that samples through it. */
import type { GpuSample, SampleOptions } from './types.ts';

/** What the worker is opened with: where to look for the library. */
export interface NvmlWorkerData {
  libraryPath: string | undefined;
  env: Record<string, string | undefined>;
  platform: NodeJS.Platform;
}

export type ToNvmlWorker =
  | { type: 'open'; data: NvmlWorkerData }
  | { type: 'sample'; id: number; timestamp: number; options: SampleOptions | undefined }
  | { type: 'dispose' };

export type FromNvmlWorker =
  | { type: 'log'; message: string }
  | { type: 'opened'; ok: true; description: string }
  | { type: 'opened'; ok: false; reason: string }
  | { type: 'sample'; id: number; ok: true; sample: GpuSample }
  | { type: 'sample'; id: number; ok: false; message: string }
  | { type: 'disposed' };
