/**
 * The nvidia-smi source: the fallback when NVML cannot be loaded. Each sample runs nvidia-smi for
 * the GPUs and, when the process-list budget says so, for the compute processes; each run has an
 * argument array, a timeout, a cap on its output, and its own process group, killed whole when it
 * hangs (children that hold the pipe open included).
 * A field nvidia-smi could not read is null on its device; only a failing nvidia-smi makes a sample throw.
 */
import { checkedMemory, implausibleError } from './memory-plausibility.ts';
import { nvmlAdvice, NvmlReturn } from './nvml-errors.ts';
import { oneLine, quoteOutput } from './output-quote.ts';
import { ProcessListBudget } from './process-list-budget.ts';
import {
  computeAppsQueryArgs,
  gpuQueryArgs,
  IMPLAUSIBLE_READING,
  isInvalidFieldMessage,
  parseComputeApps,
  parseGpuQuery,
  RESERVED_FIELD,
  type FieldProblem,
  type SmiComputeApp,
  type SmiGpuRow,
} from './nvidia-smi-parse.ts';
import { ProcessNameCache, processNameFromProc } from './process-names.ts';
import { runBounded } from '../bounded-run.ts';
import { emptyDevice, type DeviceError, type GpuDevice, type GpuSample, type GpuSource, type SampleOptions } from './types.ts';
import { errorMessage } from '../errors.ts';
import { MiB } from '../units.ts';

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
/** nvidia-smi's answer for a few GPUs is a few kB: more than this is not an answer. */
const MAX_OUTPUT_BYTES = MiB;

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
  return errorMessage(err);
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

export class NvidiaSmiSource implements GpuSource {
  readonly kind = 'nvidia-smi' as const;

  private readonly config: NvidiaSmiConfig;
  private readonly names = new ProcessNameCache();
  /** Aborted on dispose: the runs in flight are killed, each with its whole process group. */
  private readonly closing = new AbortController();
  private readonly budget = new ProcessListBudget();
  /** The last compute-process list, repeated while the budget says it need not be read again. */
  private apps: SmiComputeApp[] = [];
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

  async sample(timestamp: number, options?: SampleOptions): Promise<GpuSample> {
    if (this.disposed) throw new Error('nvidia-smi source is closed');
    const rows = await this.queryGpus();
    const devices = rows.map((row) => toDevice(row));
    const key = (d: GpuDevice) => d.uuid ?? `index:${d.index}`;
    if (devices.some((d) => this.budget.due(key(d), timestamp, d.memory?.used ?? null, options))) {
      this.apps = await this.queryApps();
      for (const d of devices) this.budget.listed(key(d), timestamp, d.memory?.used ?? null);
    }
    this.attachProcesses(devices, this.apps);
    await this.nameProcesses(devices);
    this.driverVersion = rows.find((r) => r.driverVersion !== null)?.driverVersion ?? this.driverVersion;
    return { source: 'nvidia-smi', timestamp, driverVersion: this.driverVersion, sourceVersion: null, devices };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.closing.abort();
  }

  private async queryGpus(): Promise<SmiGpuRow[]> {
    if (this.withReserved) {
      try {
        return this.parseGpus(await this.run(gpuQueryArgs(true)), true);
      } catch (err) {
        if (!(err instanceof NvidiaSmiError) || !isInvalidFieldMessage(err.output, RESERVED_FIELD)) throw err;
        this.withReserved = false;
        this.config.log(
          `nvidia-smi does not know ${RESERVED_FIELD} (a driver before the 510 series): reading GPUs without it; reserved memory shows as unknown`,
        );
      }
    }
    return this.parseGpus(await this.run(gpuQueryArgs(false)), false);
  }

  /** Empty output is no answer: nvidia-smi says "No devices were found" (and fails) when there are none. */
  private parseGpus(stdout: string, withReserved: boolean): SmiGpuRow[] {
    const rows = parseGpuQuery(stdout, withReserved);
    if (rows.length === 0) {
      throw new NvidiaSmiError(
        `${this.config.executable} answered the GPU query with nothing (exit code 0): no GPU and no error, which nvidia-smi never does; is it the real nvidia-smi?`,
        stdout,
      );
    }
    return rows;
  }

  private async queryApps(): Promise<SmiComputeApp[]> {
    return parseComputeApps(await this.run(computeAppsQueryArgs()));
  }

  /**
   * Runs nvidia-smi once, bounded (a process group of its own, the timeout, a cap on its output; the
   * whole group killed on overrun, so children holding the pipe open go too) and gives its stdout;
   * throws NvidiaSmiError with a sentence for a person.
   */
  private async run(args: string[]): Promise<string> {
    const { executable, timeoutMs, env } = this.config;
    const r = await runBounded(executable, args, {
      env,
      timeoutMs,
      maxOutputBytes: MAX_OUTPUT_BYTES,
      signal: this.closing.signal,
      reapGraceMs: REAP_GRACE_MS,
    });
    if (this.disposed) throw new Error('nvidia-smi source is closed');
    if (r.kind === 'not-started') throw new NvidiaSmiError(spawnFailure(executable, r.code, r.message));
    if (r.kind !== 'exited') {
      // A process stuck in the driver ignores even SIGKILL; one in a session of its own may keep the pipe.
      if (!r.closed) throw new NvidiaSmiError(stuckMessage(executable, timeoutMs, r.exit !== null, r.pid));
      if (r.kind === 'flood')
        throw new NvidiaSmiError(
          `${executable} printed more than ${MAX_OUTPUT_BYTES / MiB} MiB for one query and was killed with its process group; that is not nvidia-smi's answer: ${quoteOutput(r.stdout)}`,
        );
      const exitedFirst = r.exit !== null && r.exit.code !== null && r.exit.signal === null;
      throw new NvidiaSmiError(timeoutMessage(executable, timeoutMs, exitedFirst, r.pid));
    }
    const { stdout, stderr } = r;
    if (r.code !== 0) {
      // nvidia-smi writes its errors to stdout.
      const said = oneLine(stderr.trim() || stdout.trim());
      const how = r.code === null ? `was killed by ${r.signal ?? 'a signal'}` : `exited with code ${r.code}`;
      throw new NvidiaSmiError(
        `${executable} ${how}${said ? `: ${said}` : ' and printed nothing'}`,
        `${stdout.slice(0, 64 * 1024)}\n${stderr.slice(0, 64 * 1024)}`,
      );
    }
    return stdout;
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

function timeoutMessage(executable: string, timeoutMs: number, exitedFirst: boolean, pid: number | undefined): string {
  const group = pid === undefined ? 'its process group' : `its process group (${pid})`;
  if (exitedFirst) {
    return `${executable} exited, but a process it started kept its output open past ${timeoutMs} ms: ${group} was killed. The answer was incomplete; check what wraps nvidia-smi.`;
  }
  return (
    `${executable} hung for ${timeoutMs} ms and was killed. Its whole process group went with it (${group}). The driver may be busy or stuck: ` +
    'run `nvidia-smi` in a terminal to see whether it answers; enabling persistence mode (`sudo nvidia-smi -pm 1`) makes it answer faster.'
  );
}

function stuckMessage(executable: string, timeoutMs: number, exitedFirst: boolean, pid: number | undefined): string {
  if (exitedFirst) {
    return `${executable} exited, but a process it started holds its output open and survived the kill of its process group${pid === undefined ? '' : ` (${pid})`} (it left the group): the answer was not used.`;
  }
  return (
    `${executable} hung for ${timeoutMs} ms and did not end when killed (it is stuck in the driver). ` +
    'The GPU or its driver needs attention: check `dmesg` for Xid errors; a reset or a reboot may be needed.'
  );
}

function spawnFailure(executable: string, code: string | null, message: string): string {
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

  const memoryProblem =
    row.problems.find((p) => MEMORY_FIELDS.has(p.field) && p.code === IMPLAUSIBLE_READING) ?? row.problems.find((p) => MEMORY_FIELDS.has(p.field));
  const firstReal = row.problems.find((p) => !isMissing(p));
  // Memory is what the device is for here: if it cannot be read, that is the device's error.
  const problem = device.memory === null ? (memoryProblem ?? firstReal) : firstReal;
  if (problem) device.error = deviceError(problem);
  else if (device.memory === null) device.error = { code: 'UNKNOWN', message: 'memory: nvidia-smi gave no memory figures for this GPU' };
  if (device.memory) {
    // Figures that cannot be true (used above total, a total of 0) are the device's error, never its memory.
    const { total, used, free, reserved } = device.memory;
    const checked = checkedMemory(
      { total: BigInt(total), used: BigInt(used), free: BigInt(free), reserved: reserved === null ? null : BigInt(reserved) },
      'nvidia-smi',
    );
    if ('error' in checked) {
      device.memory = null;
      device.error = checked.error;
    }
  }
  return device;
}

function deviceError(problem: FieldProblem): DeviceError {
  if (problem.code === IMPLAUSIBLE_READING) return implausibleError(`${problem.field} = ${quoteOutput(problem.text, 40)}, not a number of MiB`, 'nvidia-smi');
  const rc = (NvmlReturn as Record<string, number>)[problem.code];
  const advice = rc === undefined ? '' : nvmlAdvice(rc);
  const message = `${problem.field}: nvidia-smi reported ${problem.text}`;
  return { code: problem.code, message: advice ? `${message}. ${advice}` : message };
}
