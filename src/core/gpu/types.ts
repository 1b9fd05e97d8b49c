/** What every GPU source reports: one sample of every GPU it sees. */

/**
 * The GPU sources by kind. Each source's entry in `sources/` adds its kind here (`declare module`),
 * so this file imports none of them; `source-registry.ts` fails to compile unless it lists exactly these.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by each source's entry
export interface GpuSourceKinds {}

export type SourceKind = keyof GpuSourceKinds;

export interface GpuProcess {
  pid: number;
  /** From NVML, else /proc; null when neither knows. */
  name: string | null;
  /** Bytes of VRAM; null when the driver says "not available" (WDDM, WSL, some containers). */
  usedBytes: number | null;
  kind: 'compute' | 'graphics' | 'compute+graphics';
}

export interface DeviceError {
  /**
   * NVML's name for the failure, e.g. GPU_IS_LOST, NO_PERMISSION, NOT_SUPPORTED; or VRAM Guard's own:
   * IMPLAUSIBLE_READING (figures that cannot be true), NOT_ANSWERING (a driver call that has not returned).
   */
  code: string;
  message: string;
  /** NOT_ANSWERING: when the call that has not returned started (ms since the epoch, the watcher's clock). */
  since?: number;
}

export interface DeviceMemory {
  total: number;
  used: number;
  free: number;
  /** Memory the driver reserves; null when the source cannot tell. */
  reserved: number | null;
}

export interface GpuDevice {
  index: number;
  name: string | null;
  uuid: string | null;
  /** null when the device could not be read (see `error`). */
  memory: DeviceMemory | null;
  utilization: { gpu: number | null; memory: number | null };
  temperatureC: number | null;
  powerW: number | null;
  persistenceMode: boolean | null;
  processes: GpuProcess[];
  error: DeviceError | null;
}

export interface GpuSample {
  source: SourceKind;
  /** Milliseconds since the epoch, from the watcher's clock. */
  timestamp: number;
  driverVersion: string | null;
  /** The version of the library or tool that read it (NVML's); null when the source has none or cannot tell. */
  sourceVersion: string | null;
  devices: GpuDevice[];
}

/** How a sample treats the process lists, the expensive driver calls (they take the driver's global lock). */
export interface SampleOptions {
  /**
   * `budget` (the watcher's): list a GPU's processes only when its used memory moved by more than a
   * small step since the last list, or `processListIntervalMs` has passed; otherwise the last list is
   * repeated. `now` (the default, for one-off readers and views): list them now.
   */
  processes?: 'budget' | 'now';
  processListIntervalMs?: number;
}

export interface GpuSource {
  readonly kind: SourceKind;
  /** A sentence for tooltips and logs, e.g. "NVML 12.535.104 via /usr/lib/libnvidia-ml.so.1". */
  readonly description: string;
  /** Reads every GPU once. Per-device failures are reported on the device; throws only when the source itself broke. */
  sample(timestamp: number, options?: SampleOptions): Promise<GpuSample>;
  dispose(): Promise<void>;
}

export function emptyDevice(index: number): GpuDevice {
  return {
    index,
    name: null,
    uuid: null,
    memory: null,
    utilization: { gpu: null, memory: null },
    temperatureC: null,
    powerW: null,
    persistenceMode: null,
    processes: [],
    error: null,
  };
}
