/**
 * The NVML source: one initialised library handle, sampled on demand.
 * Failures on one device are reported on that device; the others go on.
 */
import { NvmlReturn, nvmlAdvice, nvmlReturnName } from './nvml-errors.ts';
import { bindNvml, cString, nvmlLibraryCandidates, type DeviceHandle, type KoffiLike, type NvmlBindings, type ProcessListCall } from './nvml-library.ts';
import { checkedMemory, type RawMemoryFigures } from './memory-plausibility.ts';
import { readProcessList, type RawProcess } from './nvml-processes.ts';
import { ProcessListBudget } from './process-list-budget.ts';
import { printable } from './output-quote.ts';
import { ProcessNameCache, processNameFromProc } from './process-names.ts';
import { emptyDevice, type DeviceError, type GpuDevice, type GpuProcess, type GpuSample, type GpuSource, type SampleOptions } from './types.ts';
import { errorMessage } from '../errors.ts';

export interface NvmlOpenOptions {
  /** The `vramGuard.nvmlLibraryPath` setting; tried first. */
  libraryPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** Loads the FFI; replaced in tests to stand for a missing native module. */
  loadKoffi?: () => Promise<KoffiLike>;
  log?: (message: string) => void;
}

export type NvmlOpenResult = { ok: true; source: NvmlSource } | { ok: false; reason: string };

const NVML_MEMORY_V2_VERSION = 40 | (2 << 24); // sizeof(nvmlMemory_v2_t) | (2 << 24) = 0x02000028
const NVML_TEMPERATURE_GPU = 0;
const STRING_LENGTH = 256;
/** More GPUs than this in one machine is a garbled count. */
const MAX_DEVICES = 64;

async function defaultLoadKoffi(): Promise<KoffiLike> {
  const mod = (await import('koffi')) as unknown as { default?: KoffiLike } & KoffiLike;
  return mod.default ?? mod;
}

export async function openNvml(options: NvmlOpenOptions = {}): Promise<NvmlOpenResult> {
  const log = options.log ?? (() => {});
  let koffi: KoffiLike;
  try {
    koffi = await (options.loadKoffi ?? defaultLoadKoffi)();
  } catch (err) {
    return { ok: false, reason: `FFI unavailable: koffi could not load (${errorText(err)}). Reinstall the extension for this platform.` };
  }
  const candidates = nvmlLibraryCandidates({ settingPath: options.libraryPath, env: options.env, platform: options.platform });
  if (candidates.length === 0) {
    return { ok: false, reason: `NVML is not available on ${options.platform ?? process.platform}.` };
  }
  const failures: string[] = [];
  for (const candidate of candidates) {
    let api: NvmlBindings;
    try {
      api = bindNvml(koffi, candidate.path);
    } catch (err) {
      failures.push(`${candidate.path} (${candidate.from}): ${errorText(err)}`);
      continue;
    }
    let rc: number;
    try {
      rc = await api.init();
    } catch (err) {
      api.unload();
      failures.push(`${candidate.path} (${candidate.from}): nvmlInit threw ${errorText(err)}`);
      continue;
    }
    if (rc !== NvmlReturn.SUCCESS) {
      const text = describe(api, rc);
      api.unload();
      // The library loaded but the driver said no: another copy of the library will say the same.
      return { ok: false, reason: `nvmlInit failed with ${text}. ${nvmlAdvice(rc)}`.trim() };
    }
    log(`NVML loaded from ${candidate.path} (${candidate.from})`);
    return { ok: true, source: new NvmlSource(api, log) };
  }
  return { ok: false, reason: `no NVML library could be loaded: ${failures.join('; ')}` };
}

function describe(api: NvmlBindings, rc: number): string {
  const text = api.errorString(rc);
  return text ? `${nvmlReturnName(rc)} (${text})` : nvmlReturnName(rc);
}

function errorText(err: unknown): string {
  return errorMessage(err);
}

interface DeviceState {
  handle: DeviceHandle;
  name: string | null;
  uuid: string | null;
  useMemoryV2: boolean;
  /** The last process list read, repeated while the budget says the list need not be read again. */
  processes: GpuProcess[];
}

/** A field whose failure means "not supported here", not "this device is in trouble". */
function isMissing(rc: number): boolean {
  return rc === NvmlReturn.NOT_SUPPORTED || rc === NvmlReturn.FUNCTION_NOT_FOUND;
}

export class NvmlSource implements GpuSource {
  readonly kind = 'nvml' as const;
  readonly description: string;
  readonly driverVersion: string | null;
  readonly nvmlVersion: string | null;

  private readonly devices = new Map<number, DeviceState>();
  private readonly names = new ProcessNameCache();
  private readonly computeCalls: ProcessListCall[];
  private readonly graphicsCalls: ProcessListCall[];
  private readonly u32 = Buffer.alloc(4);
  private readonly memory = Buffer.alloc(40);
  private readonly text = Buffer.alloc(STRING_LENGTH);
  private readonly warned = new Set<string>();
  private readonly budget = new ProcessListBudget();
  private disposed = false;

  private readonly api: NvmlBindings;
  private readonly log: (message: string) => void;

  constructor(api: NvmlBindings, log: (message: string) => void) {
    this.api = api;
    this.log = log;
    this.driverVersion = this.readString(api.driverVersion);
    this.nvmlVersion = this.readString(api.nvmlVersion);
    this.computeCalls = [...api.computeProcesses];
    this.graphicsCalls = [...api.graphicsProcesses];
    this.description = `NVML ${this.nvmlVersion ?? '(version unknown)'}, driver ${this.driverVersion ?? 'unknown'}, from ${api.path}`;
  }

  async sample(timestamp: number, options?: SampleOptions): Promise<GpuSample> {
    if (this.disposed) throw new Error('NVML source is closed');
    const rc = this.api.deviceCount(this.u32);
    if (rc !== NvmlReturn.SUCCESS) throw new Error(`nvmlDeviceGetCount failed with ${describe(this.api, rc)}`);
    const count = this.u32.readUInt32LE(0);
    if (count > MAX_DEVICES) throw new Error(`nvmlDeviceGetCount answered ${count} GPUs, more than any machine holds (at most ${MAX_DEVICES} are read)`);
    const devices: GpuDevice[] = [];
    for (let i = 0; i < count; i++) devices.push(this.readDevice(i, timestamp, options));
    await this.nameProcesses(devices);
    return { source: 'nvml', timestamp, driverVersion: this.driverVersion, sourceVersion: this.nvmlVersion, devices };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.devices.clear();
    try {
      this.api.shutdown();
    } finally {
      this.api.unload();
    }
  }

  private readDevice(index: number, now: number, options: SampleOptions | undefined): GpuDevice {
    const device = emptyDevice(index);
    const state = this.deviceState(index, device);
    if (!state) return device;
    const h = state.handle;
    device.name = state.name;
    device.uuid = state.uuid;
    const key = state.uuid ?? `index:${index}`;

    // Memory is what the device is for here: if it cannot be read, the device is in error.
    const memRc = this.readMemory(state, device);
    if (memRc !== NvmlReturn.SUCCESS) {
      if (isMissing(memRc)) {
        device.error = {
          code: 'NOT_SUPPORTED',
          message: `memory: not supported — this GPU or driver does not report memory usage through NVML (${this.api.errorString(memRc) || nvmlReturnName(memRc)}), so VRAM Guard cannot watch it`,
        };
      } else this.fail(device, memRc, 'memory');
      if (memRc === NvmlReturn.GPU_IS_LOST) this.devices.delete(index);
      this.budget.forget(key);
      return device;
    }
    if (!device.memory) {
      // The figures could not be true (readMemory put the error on the device): nothing else is read.
      this.budget.forget(key);
      return device;
    }

    if (this.api.utilization) {
      const buf = this.memory;
      const urc = this.api.utilization(h, buf);
      if (urc === NvmlReturn.SUCCESS) device.utilization = { gpu: buf.readUInt32LE(0), memory: buf.readUInt32LE(4) };
      else this.fail(device, urc, 'utilization');
    }
    device.temperatureC = this.readU32(device, 'temperature', this.api.temperature, h, NVML_TEMPERATURE_GPU);
    const milliwatts = this.readU32(device, 'power', this.api.power, h);
    device.powerW = milliwatts === null ? null : milliwatts / 1000;
    const persistence = this.readU32(device, 'persistence mode', this.api.persistence, h);
    device.persistenceMode = persistence === null ? null : persistence === 1;

    const used = device.memory.used;
    if (this.budget.due(key, now, used, options)) {
      const compute = this.readProcesses(device, this.computeCalls, h, 'compute');
      const graphics = this.readProcesses(device, this.graphicsCalls, h, 'graphics');
      state.processes = mergeProcesses(compute, graphics);
      this.budget.listed(key, now, used);
    }
    device.processes = state.processes.map((p) => ({ ...p }));
    if (device.error?.code === 'GPU_IS_LOST') this.devices.delete(index);
    return device;
  }

  private deviceState(index: number, device: GpuDevice): DeviceState | undefined {
    const known = this.devices.get(index);
    if (known) return known;
    const out: DeviceHandle[] = [null];
    const rc = this.api.handleByIndex(index, out);
    if (rc !== NvmlReturn.SUCCESS) {
      this.fail(device, rc, 'device handle');
      return undefined;
    }
    const handle = out[0];
    const state: DeviceState = {
      handle,
      name: this.readString(this.api.name, handle),
      uuid: this.readString(this.api.uuid, handle),
      useMemoryV2: this.api.memoryV2 !== undefined,
      processes: [],
    };
    this.devices.set(index, state);
    return state;
  }

  private readMemory(state: DeviceState, device: GpuDevice): number {
    const buf = this.memory;
    if (state.useMemoryV2 && this.api.memoryV2) {
      buf.fill(0);
      buf.writeUInt32LE(NVML_MEMORY_V2_VERSION, 0);
      const rc = this.api.memoryV2(state.handle, buf);
      if (rc === NvmlReturn.SUCCESS) {
        this.setMemory(device, {
          total: buf.readBigUInt64LE(8),
          reserved: buf.readBigUInt64LE(16),
          free: buf.readBigUInt64LE(24),
          used: buf.readBigUInt64LE(32),
        });
        return rc;
      }
      if (rc !== NvmlReturn.ARGUMENT_VERSION_MISMATCH && !isMissing(rc)) return rc;
      state.useMemoryV2 = false;
      this.log(`GPU ${device.index}: nvmlDeviceGetMemoryInfo_v2 answered ${nvmlReturnName(rc)}; using v1 (used includes reserved memory)`);
    }
    const rc = this.api.memoryV1(state.handle, buf);
    if (rc === NvmlReturn.SUCCESS) {
      this.setMemory(device, { total: buf.readBigUInt64LE(0), free: buf.readBigUInt64LE(8), used: buf.readBigUInt64LE(16), reserved: null });
    }
    return rc;
  }

  /** Figures that cannot be true become the device's error, never its memory. */
  private setMemory(device: GpuDevice, figures: RawMemoryFigures): void {
    const checked = checkedMemory(figures, 'NVML');
    if ('memory' in checked) device.memory = checked.memory;
    else device.error = checked.error;
  }

  private readU32(device: GpuDevice, what: string, call: ((...args: unknown[]) => number) | undefined, ...args: unknown[]): number | null {
    if (!call) return null;
    const rc = call(...args, this.u32);
    if (rc === NvmlReturn.SUCCESS) return this.u32.readUInt32LE(0);
    this.fail(device, rc, what);
    return null;
  }

  private readProcesses(device: GpuDevice, calls: ProcessListCall[], handle: DeviceHandle, kind: string): RawProcess[] {
    // Each version the driver lacks is dropped from `calls`, so the next sample starts at the one that works.
    for (const call of [...calls]) {
      const result = readProcessList(call, handle);
      if (result.ok) {
        if (result.entrySize === 32 && call.version === 3)
          this.warnOnce(`wide-${call.name}`, `${call.name} wrote 32-byte entries (drivers 535.43–535.86): read with that stride`);
        return result.processes;
      }
      if (result.rc !== NvmlReturn.FUNCTION_NOT_FOUND) {
        this.fail(device, result.rc, `${kind} processes`);
        return [];
      }
      this.log(`${call.name} is not in this driver; trying an older version`);
      calls.shift();
    }
    return [];
  }

  private async nameProcesses(devices: GpuDevice[]): Promise<void> {
    const seen = new Set<number>();
    const fromProc: GpuProcess[] = [];
    for (const device of devices) {
      for (const p of device.processes) {
        seen.add(p.pid);
        const cached = this.names.get(p.pid);
        if (cached !== undefined) {
          p.name = cached;
          continue;
        }
        const name = this.readString(this.api.processName, p.pid);
        if (name) {
          p.name = name;
          this.names.set(p.pid, name);
        } else fromProc.push(p);
      }
    }
    await Promise.all(
      fromProc.map(async (p) => {
        p.name = await processNameFromProc(p.pid);
        this.names.set(p.pid, p.name);
      }),
    );
    this.names.retain(seen);
  }

  private readString(call: ((...args: unknown[]) => number) | undefined, ...args: unknown[]): string | null {
    if (!call) return null;
    const buf = this.text;
    buf[0] = 0;
    const rc = call(...args, buf, STRING_LENGTH);
    if (rc !== NvmlReturn.SUCCESS) return null;
    // GPU and process names are printed in terminals and tables: no control character gets through.
    const text = cString(buf);
    return text ? printable(text) : null;
  }

  /** Records the first real failure on a device; "not supported" fields just stay null. */
  private fail(device: GpuDevice, rc: number, what: string): void {
    if (isMissing(rc) || device.error) return;
    const error: DeviceError = { code: nvmlReturnName(rc), message: `${what}: ${this.api.errorString(rc) || nvmlReturnName(rc)}` };
    const advice = nvmlAdvice(rc);
    if (advice) error.message += `. ${advice}`;
    device.error = error;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log(message);
  }
}

/** One row per PID: a process with both a compute and a graphics context is counted once. */
export function mergeProcesses(compute: RawProcess[], graphics: RawProcess[]): GpuProcess[] {
  const byPid = new Map<number, GpuProcess>();
  for (const p of compute) byPid.set(p.pid, { pid: p.pid, name: null, usedBytes: p.usedBytes, kind: 'compute' });
  for (const p of graphics) {
    const known = byPid.get(p.pid);
    if (!known) {
      byPid.set(p.pid, { pid: p.pid, name: null, usedBytes: p.usedBytes, kind: 'graphics' });
      continue;
    }
    known.kind = 'compute+graphics';
    if (p.usedBytes !== null) known.usedBytes = known.usedBytes === null ? p.usedBytes : Math.max(known.usedBytes, p.usedBytes);
  }
  return [...byPid.values()];
}
