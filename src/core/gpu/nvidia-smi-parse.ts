/**
 * Parsing of nvidia-smi's CSV output (`--format=csv,noheader,nounits`): pure functions, no processes.
 *
 * nvidia-smi separates fields with ", ", writes memory in MiB, power in watts with two decimals,
 * and puts what it could not read in brackets: `[N/A]`, `[Not Supported]`, `[Insufficient Permissions]`,
 * `[Unknown Error]`, `[GPU is lost]` (the text is NVML's error string). Older drivers write `N/A` bare.
 * A value it could not read is null here, never a number.
 */

import { MiB } from '../units.ts';

export { MiB };
/** A memory figure that cannot be true (see memory-plausibility.ts). */
export const IMPLAUSIBLE_READING = 'IMPLAUSIBLE_READING';

export const GPU_FIELDS = [
  'index',
  'name',
  'uuid',
  'memory.total',
  'memory.used',
  'memory.free',
  'memory.reserved',
  'utilization.gpu',
  'utilization.memory',
  'temperature.gpu',
  'power.draw',
  'persistence_mode',
  'driver_version',
] as const;

export const COMPUTE_APP_FIELDS = ['gpu_uuid', 'pid', 'process_name', 'used_memory'] as const;

export const CSV_FORMAT = '--format=csv,noheader,nounits';

/** The field that drivers older than the 510 series do not know. */
export const RESERVED_FIELD = 'memory.reserved';

export type GpuField = (typeof GPU_FIELDS)[number];

/** The fields asked for: all of them, or all but `memory.reserved` for an nvidia-smi that does not know it. */
export function gpuFields(withReserved: boolean): GpuField[] {
  return GPU_FIELDS.filter((f) => withReserved || f !== RESERVED_FIELD);
}

/** nvidia-smi's arguments for the per-GPU query. */
export function gpuQueryArgs(withReserved: boolean): string[] {
  return [`--query-gpu=${gpuFields(withReserved).join(',')}`, CSV_FORMAT];
}

/** nvidia-smi's arguments for the compute-process query. */
export function computeAppsQueryArgs(): string[] {
  return [`--query-compute-apps=${COMPUTE_APP_FIELDS.join(',')}`, CSV_FORMAT];
}

/** A field nvidia-smi could not read, in its own words, with the NVML name of the failure. */
export interface FieldProblem {
  field: string;
  /** What nvidia-smi printed, e.g. `[Unknown Error]`. */
  text: string;
  /** NVML's name for it: NOT_SUPPORTED, NO_PERMISSION, GPU_IS_LOST, UNKNOWN, ... */
  code: string;
}

export interface SmiGpuRow {
  index: number;
  name: string | null;
  uuid: string | null;
  /** Bytes; null where nvidia-smi could not read the value (or, for reserved, was not asked). */
  memoryTotal: number | null;
  memoryUsed: number | null;
  memoryFree: number | null;
  memoryReserved: number | null;
  utilizationGpu: number | null;
  utilizationMemory: number | null;
  temperatureC: number | null;
  powerW: number | null;
  persistenceMode: boolean | null;
  driverVersion: string | null;
  /** Every field that came back unreadable, in query order. */
  problems: FieldProblem[];
}

export interface SmiComputeApp {
  gpuUuid: string;
  pid: number;
  /** null when nvidia-smi could not tell (e.g. `[Insufficient Permissions]` in a container). */
  name: string | null;
  /** Bytes; null when the driver cannot tell (Windows WDDM, WSL). */
  usedBytes: number | null;
}

import { printable, quoteOutput } from './output-quote.ts';

/** nvidia-smi printed something this parser does not understand. */
export class NvidiaSmiParseError extends Error {
  override name = 'NvidiaSmiParseError';
}

/** NVML error strings as nvidia-smi prints them, by the NVML name VRAM Guard reports. */
const UNAVAILABLE: ReadonlyMap<string, string> = new Map([
  ['n/a', 'NOT_SUPPORTED'],
  ['not supported', 'NOT_SUPPORTED'],
  ['insufficient permissions', 'NO_PERMISSION'],
  ['unknown error', 'UNKNOWN'],
  ['gpu is lost', 'GPU_IS_LOST'],
  ['gpu requires reset', 'RESET_REQUIRED'],
  ['driver not loaded', 'DRIVER_NOT_LOADED'],
  ['timeout', 'TIMEOUT'],
  ['not found', 'NOT_FOUND'],
]);

/**
 * The NVML name for a value nvidia-smi could not read (`[N/A]` → NOT_SUPPORTED), or null when the
 * text is a value. Any other bracketed text is an error too (UNKNOWN).
 */
export function unavailableCode(text: string): string | null {
  const t = text.trim();
  const bracketed = t.startsWith('[') && t.endsWith(']');
  const inner = (bracketed ? t.slice(1, -1) : t).trim().toLowerCase();
  const code = UNAVAILABLE.get(inner);
  if (code && (bracketed || inner === 'n/a')) return code;
  return bracketed ? 'UNKNOWN' : null;
}

/** A name nvidia-smi printed (the driver's or a process's): shown, never acted on by a terminal. */
const printableOrNull = (text: string | null): string | null => (text === null ? null : printable(text));

/** Reads a row's fields one by one, collecting what could not be read. */
class RowReader {
  readonly problems: FieldProblem[] = [];

  /** The raw text of a field, or null when nvidia-smi marked it unreadable. */
  text(field: string, raw: string | undefined): string | null {
    const t = (raw ?? '').trim();
    const code = unavailableCode(t);
    if (code) {
      this.problems.push({ field, text: t, code });
      return null;
    }
    return t === '' ? null : t;
  }

  number(field: string, raw: string | undefined): number | null {
    const t = this.text(field, raw);
    if (t === null) return null;
    const n = Number(t);
    if (!Number.isFinite(n)) {
      this.problems.push({ field, text: t, code: 'UNKNOWN' });
      return null;
    }
    return n;
  }

  /** A memory figure: anything but a non-negative number of MiB (or nvidia-smi's bracketed "cannot read") is implausible. */
  mebibytes(field: string, raw: string | undefined): number | null {
    const t = this.text(field, raw);
    if (t === null) return null;
    const n = /^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isFinite(n) || n < 0) {
      this.problems.push({ field, text: t, code: IMPLAUSIBLE_READING });
      return null;
    }
    return Math.round(n * MiB);
  }

  onOff(field: string, raw: string | undefined): boolean | null {
    const t = this.text(field, raw);
    if (t === null) return null;
    if (t === 'Enabled') return true;
    if (t === 'Disabled') return false;
    this.problems.push({ field, text: t, code: 'UNKNOWN' });
    return null;
  }
}

function lines(stdout: string): string[] {
  return stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/**
 * Parses the output of `nvidia-smi --query-gpu=<gpuFields(withReserved)> --format=csv,noheader,nounits`,
 * one row per GPU. A GPU name is the only field that could hold a comma: extra fields are taken as part of it.
 * Throws NvidiaSmiParseError on a row with too few fields.
 */
export function parseGpuQuery(stdout: string, withReserved: boolean): SmiGpuRow[] {
  const fields = gpuFields(withReserved);
  return lines(stdout).map((line, position) => {
    const parts = line.split(',');
    const notARow = (why: string) => new NvidiaSmiParseError(`nvidia-smi printed a line that is not a GPU row (${why}): ${quoteOutput(line)}`);
    if (parts.length < fields.length) throw notARow(`expected ${fields.length} fields per GPU, got ${parts.length}`);
    // index, name..., then the fixed fields after the name
    const extra = parts.length - fields.length;
    const cells = [parts[0], parts.slice(1, 2 + extra).join(','), ...parts.slice(2 + extra)];
    // A GPU row starts with its index and has its UUID after the name: anything else is not a GPU.
    if (!/^\d{1,4}$/.test((cells[0] ?? '').trim())) throw notARow('no GPU index first');
    const uuid = (cells[2] ?? '').trim();
    if (!/^(GPU|MIG)-[0-9A-Za-z/-]+$/.test(uuid) && unavailableCode(uuid) === null) throw notARow(`no GPU UUID after the name`);
    const raw = new Map<GpuField, string | undefined>(fields.map((f, i) => [f, cells[i]]));
    const r = new RowReader();
    const index = r.number('index', raw.get('index'));
    return {
      index: index !== null && Number.isInteger(index) ? index : position,
      name: printableOrNull(r.text('name', raw.get('name'))),
      uuid: r.text('uuid', raw.get('uuid')),
      memoryTotal: r.mebibytes('memory.total', raw.get('memory.total')),
      memoryUsed: r.mebibytes('memory.used', raw.get('memory.used')),
      memoryFree: r.mebibytes('memory.free', raw.get('memory.free')),
      memoryReserved: withReserved ? r.mebibytes('memory.reserved', raw.get('memory.reserved')) : null,
      utilizationGpu: r.number('utilization.gpu', raw.get('utilization.gpu')),
      utilizationMemory: r.number('utilization.memory', raw.get('utilization.memory')),
      temperatureC: r.number('temperature.gpu', raw.get('temperature.gpu')),
      powerW: r.number('power.draw', raw.get('power.draw')),
      persistenceMode: r.onOff('persistence_mode', raw.get('persistence_mode')),
      driverVersion: r.text('driver_version', raw.get('driver_version')),
      problems: r.problems,
    };
  });
}

/**
 * Parses the output of `nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory
 * --format=csv,noheader,nounits`. A process name can hold commas: the first two fields and the last
 * are fixed, everything between them is the name. Throws NvidiaSmiParseError on a row it cannot read.
 */
export function parseComputeApps(stdout: string): SmiComputeApp[] {
  const apps: SmiComputeApp[] = [];
  for (const line of lines(stdout)) {
    // Some drivers print this instead of nothing when no process holds a context.
    if (/^no running (compute )?processes found/i.test(line)) continue;
    const parts = line.split(',');
    if (parts.length < COMPUTE_APP_FIELDS.length) {
      throw new NvidiaSmiParseError(`expected ${COMPUTE_APP_FIELDS.length} fields per process, got ${parts.length}: ${quoteOutput(line)}`);
    }
    const r = new RowReader();
    const gpuUuid = r.text('gpu_uuid', parts[0]);
    const pid = r.number('pid', parts[1]);
    if (gpuUuid === null || pid === null || !Number.isInteger(pid) || pid < 0) {
      throw new NvidiaSmiParseError(`a process row without a GPU UUID and a PID: ${quoteOutput(line)}`);
    }
    apps.push({
      gpuUuid,
      pid,
      name: printableOrNull(r.text('process_name', parts.slice(2, -1).join(','))),
      usedBytes: r.mebibytes('used_memory', parts[parts.length - 1]),
    });
  }
  return apps;
}

/** Whether nvidia-smi's answer says that it does not know `field` (older drivers and memory.reserved). */
export function isInvalidFieldMessage(output: string, field: string): boolean {
  return output.includes(`Field "${field}" is not a valid field to query`);
}
