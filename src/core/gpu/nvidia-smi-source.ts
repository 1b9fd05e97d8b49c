/**
 * The nvidia-smi source: the fallback when NVML cannot be loaded. Each sample runs nvidia-smi twice
 * (GPUs, compute processes) with an argument array, a timeout and a hard kill.
 * A field nvidia-smi could not read is null on its device; only a failing nvidia-smi makes a sample throw.
 */
import { execa } from 'execa';
import { nvmlAdvice, NvmlReturn } from './nvml-errors.ts';
import {
  computeAppsQueryArgs,
  gpuQueryArgs,
  isInvalidFieldMessage,
  parseComputeApps,
  parseGpuQuery,
  RESERVED_FIELD,
  type FieldProblem,
  type SmiComputeApp,
  type SmiGpuRow,
} from './nvidia-smi-parse.ts';
import { ProcessNameCache, processNameFromProc } from './process-names.ts';
import { emptyDevice, type DeviceError, type GpuDevice, type GpuSample, type GpuSource } from './types.ts';

export interface NvidiaSmiOpenOptions {
  /** The nvidia-smi to run: a path, or a name looked up on PATH. Default `nvidia-smi`. */
  executable?: string;
  /** How long one nvidia-smi call may take before it is killed. Default 5000 ms. */
  timeoutMs?: number;
  /** The whole environment nvidia-smi runs with. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
}

export type NvidiaSmiOpenResult = { ok: true; source: NvidiaSmiSource } | { ok: false; reason: string };

export const DEFAULT_NVIDIA_SMI_TIMEOUT_MS = 5000;

/** After the kill, how long to wait for the process to go before giving up on it (a process stuck in the driver ignores even SIGKILL). */
const REAP_GRACE_MS = 2000;

/** Starts nvidia-smi and reads every GPU once; a failure is a reason, never an exception. */
export async function openNvidiaSmi(options: NvidiaSmiOpenOptions = {}): Promise<NvidiaSmiOpenResult> {
  const source = new NvidiaSmiSource({
    executable: options.executable ?? 'nvidia-smi',
    timeoutMs: options.timeoutMs ?? DEFAULT_NVIDIA_SMI_TIMEOUT_MS,
    env: options.env ?? process.env,
    log: options.log ?? (() => {}),
  });
  try {
    const sample = await source.sample(Date.now());
    options.log?.(`nvidia-smi answered for ${sample.devices.length} GPU(s): ${source.description}`);
    return { ok: true, source };
  } catch (err) {
    await source.dispose();
    return { ok: false, reason: errorText(err) };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** nvidia-smi could not be run, or did not answer. The message says what happened and what to do. */
export class NvidiaSmiError extends Error {
  override name = 'NvidiaSmiError';
  /** What nvidia-smi printed, for callers that look at it (e.g. an unknown query field). */
  readonly output: string;

  constructor(message: string, output = '') {
    super(message);
    this.output = output;
  }
}

/** How the source runs nvidia-smi; openNvidiaSmi fills in the defaults. */
export interface NvidiaSmiConfig {
  executable: string;
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
}

type Subprocess = ReturnType<typeof execa>;

export class NvidiaSmiSource implements GpuSource {
  readonly kind = 'nvidia-smi' as const;

  private readonly config: NvidiaSmiConfig;
  private readonly names = new ProcessNameCache();
  private readonly running = new Set<Subprocess>();
  private readonly warned = new Set<string>();
  /** Cleared once nvidia-smi says it does not know `memory.reserved` (drivers before the 510 series). */
  private withReserved = true;
  private driverVersion: string | null = null;
  private disposed = false;

  constructor(config: NvidiaSmiConfig) {
    this.config = config;
  }

  get description(): string {
    const reserved = this.withReserved ? '' : ', no reserved-memory field';
    return `nvidia-smi (${this.config.executable}), driver ${this.driverVersion ?? 'unknown'}${reserved}`;
  }

  async sample(timestamp: number): Promise<GpuSample> {
    if (this.disposed) throw new Error('nvidia-smi source is closed');
    const [rows, apps] = await Promise.all([this.queryGpus(), this.queryApps()]);
    const devices = rows.map((row) => toDevice(row));
    this.attachProcesses(devices, apps);
    await this.nameProcesses(devices);
    this.driverVersion = rows.find((r) => r.driverVersion !== null)?.driverVersion ?? this.driverVersion;
    return { source: 'nvidia-smi', timestamp, driverVersion: this.driverVersion, nvmlVersion: null, devices };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const subprocess of this.running) subprocess.kill('SIGKILL');
    this.running.clear();
  }

  private async queryGpus(): Promise<SmiGpuRow[]> {
    if (this.withReserved) {
      try {
        return parseGpuQuery(await this.run(gpuQueryArgs(true)), true);
      } catch (err) {
        if (!(err instanceof NvidiaSmiError) || !isInvalidFieldMessage(err.output, RESERVED_FIELD)) throw err;
        this.withReserved = false;
        this.config.log(`nvidia-smi does not know ${RESERVED_FIELD} (a driver before the 510 series): reading GPUs without it; reserved memory shows as unknown`);
      }
    }
    return parseGpuQuery(await this.run(gpuQueryArgs(false)), false);
  }

  private async queryApps(): Promise<SmiComputeApp[]> {
    return parseComputeApps(await this.run(computeAppsQueryArgs()));
  }

  /** Runs nvidia-smi once and gives its stdout; throws NvidiaSmiError with a sentence for a person. */
  private async run(args: string[]): Promise<string> {
    const { executable, timeoutMs, env } = this.config;
    const subprocess = execa(executable, args, {
      env,
      extendEnv: false,
      stdin: 'ignore',
      reject: false,
      timeout: timeoutMs,
      // nvidia-smi only reads: nothing to lose by killing it outright when it hangs.
      killSignal: 'SIGKILL',
      forceKillAfterDelay: false,
      windowsHide: true,
    });
    this.running.add(subprocess);
    let guard: NodeJS.Timeout | undefined;
    try {
      const stuck = new Promise<'stuck'>((resolve) => {
        guard = setTimeout(() => resolve('stuck'), timeoutMs + REAP_GRACE_MS);
      });
      const result = await Promise.race([subprocess, stuck]);
      if (result === 'stuck') {
        throw new NvidiaSmiError(
          `${executable} hung for ${timeoutMs} ms and did not end when killed (it is stuck in the driver). ` +
            'The GPU or its driver needs attention: check `dmesg` for Xid errors; a reset or a reboot may be needed.',
        );
      }
      if (this.disposed) throw new Error('nvidia-smi source is closed');
      const stdout = String(result.stdout ?? '');
      const stderr = String(result.stderr ?? '');
      if (result.timedOut) {
        throw new NvidiaSmiError(
          `${executable} hung for ${timeoutMs} ms and was killed. The driver may be busy or stuck: ` +
            'run `nvidia-smi` in a terminal to see whether it answers; enabling persistence mode (`sudo nvidia-smi -pm 1`) makes it answer faster.',
        );
      }
      if (result.failed && result.exitCode === undefined && result.signal === undefined) {
        throw new NvidiaSmiError(spawnFailure(executable, result.code, result.shortMessage ?? result.message ?? 'unknown error'));
      }
      if (result.exitCode !== 0) {
        // nvidia-smi writes its errors to stdout.
        const said = (stderr.trim() || stdout.trim()).replace(/\s*\n\s*/g, ' ');
        const how = result.exitCode === undefined ? `was killed by ${result.signal ?? 'a signal'}` : `exited with code ${result.exitCode}`;
        throw new NvidiaSmiError(`${executable} ${how}${said ? `: ${said}` : ' and printed nothing'}`, `${stdout}\n${stderr}`);
      }
      return stdout;
    } finally {
      clearTimeout(guard);
      this.running.delete(subprocess);
    }
  }

  /** Gives each device its compute processes, joined by GPU UUID. */
  private attachProcesses(devices: GpuDevice[], apps: SmiComputeApp[]): void {
    const byUuid = new Map<string, GpuDevice>();
    for (const d of devices) if (d.uuid) byUuid.set(d.uuid, d);
    for (const app of apps) {
      const device = byUuid.get(app.gpuUuid);
      if (!device) {
        this.warnOnce(`uuid-${app.gpuUuid}`, `nvidia-smi listed process ${app.pid} on ${app.gpuUuid}, which is not among the GPUs it reported; left out`);
        continue;
      }
      device.processes.push({ pid: app.pid, name: app.name, usedBytes: app.usedBytes, kind: 'compute' });
    }
  }

  /** Names from /proc for the processes nvidia-smi could not name. */
  private async nameProcesses(devices: GpuDevice[]): Promise<void> {
    const seen = new Set<number>();
    const unnamed = devices.flatMap((d) => d.processes).filter((p) => p.name === null);
    for (const p of unnamed) seen.add(p.pid);
    await Promise.all(
      unnamed.map(async (p) => {
        const cached = this.names.get(p.pid);
        p.name = cached !== undefined ? cached : await processNameFromProc(p.pid);
        this.names.set(p.pid, p.name);
      }),
    );
    this.names.retain(seen);
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.config.log(message);
  }
}

function spawnFailure(executable: string, code: string | undefined, message: string): string {
  if (code === 'ENOENT') {
    const where = /[\\/]/.test(executable) ? `at ${executable}` : 'on PATH';
    return `nvidia-smi was not found ${where}. It ships with the NVIDIA driver: install the driver, or give the full path to nvidia-smi.`;
  }
  if (code === 'EACCES') return `${executable} could not be run (permission denied): make it executable, or point to the real nvidia-smi.`;
  return `${executable} could not be started: ${message}`;
}

/** A field whose failure means "not available here", not "this device is in trouble". */
function isMissing(problem: FieldProblem): boolean {
  return problem.code === 'NOT_SUPPORTED';
}

const MEMORY_FIELDS = new Set(['memory.total', 'memory.used', 'memory.free']);

/** One nvidia-smi row as a device; memory that cannot be read puts the device in error. */
export function toDevice(row: SmiGpuRow): GpuDevice {
  const device = emptyDevice(row.index);
  device.name = row.name;
  device.uuid = row.uuid;
  if (row.memoryTotal !== null && row.memoryUsed !== null && row.memoryFree !== null) {
    device.memory = { total: row.memoryTotal, used: row.memoryUsed, free: row.memoryFree, reserved: row.memoryReserved };
  }
  device.utilization = { gpu: row.utilizationGpu, memory: row.utilizationMemory };
  device.temperatureC = row.temperatureC;
  device.powerW = row.powerW;
  device.persistenceMode = row.persistenceMode;

  const memoryProblem = row.problems.find((p) => MEMORY_FIELDS.has(p.field));
  const firstReal = row.problems.find((p) => !isMissing(p));
  // Memory is what the device is for here: if it cannot be read, that is the device's error.
  const problem = device.memory === null ? (memoryProblem ?? firstReal) : firstReal;
  if (problem) device.error = deviceError(problem);
  else if (device.memory === null) device.error = { code: 'UNKNOWN', message: 'memory: nvidia-smi gave no memory figures for this GPU' };
  return device;
}

function deviceError(problem: FieldProblem): DeviceError {
  const rc = (NvmlReturn as Record<string, number>)[problem.code];
  const advice = rc === undefined ? '' : nvmlAdvice(rc);
  const message = `${problem.field}: nvidia-smi reported ${problem.text}`;
  return { code: problem.code, message: advice ? `${message}. ${advice}` : message };
}
