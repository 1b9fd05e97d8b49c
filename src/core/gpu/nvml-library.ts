/**
 * Finds and loads libnvidia-ml through koffi, and binds the entry points VRAM Guard uses.
 * Entry points that an old driver lacks are bound as `undefined`, never as a crash.
 */
/** The part of koffi this module uses; injected so a missing FFI can be tested. */
export interface KoffiLike {
  load(path: string): KoffiLibrary;
  pointer(name: string, type: unknown): unknown;
  opaque(): unknown;
}
export interface KoffiLibrary {
  func(prototype: string): KoffiFunction;
  unload(): void;
}
export interface KoffiFunction {
  (...args: unknown[]): unknown;
  async(...args: unknown[]): void;
}

export type NativeCall = (...args: unknown[]) => number;
export type DeviceHandle = unknown;

/** A process-list entry point and the entry size its version writes. */
export interface ProcessListCall {
  name: string;
  version: 1 | 2 | 3;
  call: NativeCall;
}

export interface NvmlBindings {
  path: string;
  init(): Promise<number>;
  shutdown(): number;
  errorString(rc: number): string;
  deviceCount: NativeCall;
  handleByIndex: NativeCall;
  name: NativeCall;
  uuid: NativeCall;
  memoryV2: NativeCall | undefined;
  memoryV1: NativeCall;
  utilization: NativeCall | undefined;
  temperature: NativeCall | undefined;
  power: NativeCall | undefined;
  persistence: NativeCall | undefined;
  processName: NativeCall | undefined;
  driverVersion: NativeCall | undefined;
  nvmlVersion: NativeCall | undefined;
  /** Newest first: _v3, _v2, v1, as far as the library has them. */
  computeProcesses: ProcessListCall[];
  graphicsProcesses: ProcessListCall[];
  unload(): void;
}

export interface LibraryCandidate {
  path: string;
  from: 'setting' | 'environment' | 'default';
}

/** Search order: the setting, then VRAM_GUARD_NVML_LIBRARY, then the platform's usual places. */
export function nvmlLibraryCandidates(options: {
  settingPath?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  platform?: NodeJS.Platform | undefined;
}): LibraryCandidate[] {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const out: LibraryCandidate[] = [];
  const setting = options.settingPath?.trim();
  if (setting) out.push({ path: setting, from: 'setting' });
  const fromEnv = env.VRAM_GUARD_NVML_LIBRARY?.trim();
  if (fromEnv) out.push({ path: fromEnv, from: 'environment' });
  for (const path of defaultLibraryPaths(platform, env)) out.push({ path, from: 'default' });
  return out;
}

function defaultLibraryPaths(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform === 'linux') return ['libnvidia-ml.so.1', '/usr/lib/wsl/lib/libnvidia-ml.so.1'];
  if (platform === 'win32') {
    const windir = env.WINDIR ?? env.SystemRoot ?? 'C:\\Windows';
    const programFiles = env.ProgramW6432 ?? env.ProgramFiles ?? 'C:\\Program Files';
    return [`${windir}\\System32\\nvml.dll`, `${programFiles}\\NVIDIA Corporation\\NVSMI\\nvml.dll`];
  }
  return [];
}

const deviceTypeByKoffi = new WeakMap<object, true>();

/** koffi keeps named types in one registry per process: declare ours once. */
function declareTypes(koffi: KoffiLike): void {
  if (deviceTypeByKoffi.has(koffi)) return;
  koffi.pointer('nvmlDevice_t', koffi.opaque());
  deviceTypeByKoffi.set(koffi, true);
}

export function bindNvml(koffi: KoffiLike, path: string): NvmlBindings {
  declareTypes(koffi);
  const lib = koffi.load(path);
  const optional = (prototype: string): KoffiFunction | undefined => {
    try {
      return lib.func(prototype);
    } catch {
      return undefined;
    }
  };
  const required = (prototype: string, ...fallbacks: string[]): KoffiFunction => {
    for (const p of [prototype, ...fallbacks]) {
      const fn = optional(p);
      if (fn) return fn;
    }
    lib.unload();
    const name = /\b(nvml\w+)\(/.exec(prototype)?.[1] ?? prototype;
    throw new Error(`${path} does not export ${name}: it is not a usable NVML library.`);
  };
  const asCall = (fn: KoffiFunction | undefined): NativeCall | undefined => fn as NativeCall | undefined;

  const init = required('int nvmlInit_v2(void)', 'int nvmlInit(void)');
  const errorString = required('const char *nvmlErrorString(int result)');
  const processLists = (kind: 'Compute' | 'Graphics'): ProcessListCall[] => {
    const calls: ProcessListCall[] = [];
    for (const [suffix, version] of [
      ['_v3', 3],
      ['_v2', 2],
      ['', 1],
    ] as const) {
      const name = `nvmlDeviceGet${kind}RunningProcesses${suffix}`;
      const fn = optional(`int ${name}(nvmlDevice_t device, void *infoCount, void *infos)`);
      if (fn) calls.push({ name, version, call: fn as NativeCall });
    }
    return calls;
  };

  const bindings: NvmlBindings = {
    path,
    init: () =>
      new Promise<number>((resolve, reject) => {
        // Off the calling thread: without persistence mode, init can take seconds.
        init.async((err: unknown, rc: number) => (err ? reject(err) : resolve(rc)));
      }),
    shutdown: required('int nvmlShutdown(void)') as NativeCall,
    errorString: (rc) => {
      try {
        return String(errorString(rc) ?? '');
      } catch {
        return '';
      }
    },
    deviceCount: required('int nvmlDeviceGetCount_v2(void *deviceCount)', 'int nvmlDeviceGetCount(void *deviceCount)') as NativeCall,
    handleByIndex: required(
      'int nvmlDeviceGetHandleByIndex_v2(unsigned int index, _Out_ nvmlDevice_t *device)',
      'int nvmlDeviceGetHandleByIndex(unsigned int index, _Out_ nvmlDevice_t *device)',
    ) as NativeCall,
    name: required('int nvmlDeviceGetName(nvmlDevice_t device, void *name, unsigned int length)') as NativeCall,
    uuid: required('int nvmlDeviceGetUUID(nvmlDevice_t device, void *uuid, unsigned int length)') as NativeCall,
    memoryV2: asCall(optional('int nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, void *memory)')),
    memoryV1: required('int nvmlDeviceGetMemoryInfo(nvmlDevice_t device, void *memory)') as NativeCall,
    utilization: asCall(optional('int nvmlDeviceGetUtilizationRates(nvmlDevice_t device, void *utilization)')),
    temperature: asCall(optional('int nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, void *temp)')),
    power: asCall(optional('int nvmlDeviceGetPowerUsage(nvmlDevice_t device, void *power)')),
    persistence: asCall(optional('int nvmlDeviceGetPersistenceMode(nvmlDevice_t device, void *mode)')),
    processName: asCall(optional('int nvmlSystemGetProcessName(unsigned int pid, void *name, unsigned int length)')),
    driverVersion: asCall(optional('int nvmlSystemGetDriverVersion(void *version, unsigned int length)')),
    nvmlVersion: asCall(optional('int nvmlSystemGetNVMLVersion(void *version, unsigned int length)')),
    computeProcesses: processLists('Compute'),
    graphicsProcesses: processLists('Graphics'),
    unload: () => lib.unload(),
  };
  return bindings;
}

/** Reads a NUL-terminated C string out of a buffer. */
export function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}
