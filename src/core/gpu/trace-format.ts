/**
 * The VRAM Guard trace: recorded GPU samples as JSON Lines (docs/trace-format.md).
 * Read by the replay source (a simulated GPU) and by the dashboard's import/export.
 *
 * Line 1 is a header: {"vramGuardTrace": 1, "title": ..., "devices": [{"index", "name", "totalMiB", ...}]}.
 * Every other line is one device's sample at one time ({"t", "gpu", "usedMiB", ...}) or an event
 * ({"t", "event"}). Times are ISO 8601 strings or milliseconds since the epoch, never decreasing.
 * Blank lines and lines starting with `//` are ignored.
 */
import { emptyDevice, type GpuDevice, type GpuProcess } from './types.ts';
import { MiB } from '../units.ts';

export const TRACE_FORMAT_VERSION = 1;

export interface TraceDeviceInfo {
  index: number;
  name: string | null;
  uuid: string | null;
  totalMiB: number;
}

export interface TraceHeader {
  version: number;
  title: string;
  description: string | null;
  /** Where the numbers come from (a field report, a recording on a named machine...). */
  origin: string | null;
  devices: TraceDeviceInfo[];
}

export interface TraceProcess {
  pid: number;
  name: string | null;
  usedMiB: number | null;
}

export interface TraceSampleRow {
  /** Milliseconds since the epoch. */
  time: number;
  gpu: number;
  usedMiB: number;
  totalMiB: number;
  reservedMiB: number | null;
  utilGpu: number | null;
  utilMem: number | null;
  temperatureC: number | null;
  powerW: number | null;
  processes: TraceProcess[];
  /** Set when this row says the device could not be read at that time (e.g. GPU_IS_LOST). */
  error: string | null;
  /** 1-based line number in the file, for messages. */
  line: number;
}

export interface TraceEvent {
  time: number;
  text: string;
  line: number;
}

export interface Trace {
  header: TraceHeader;
  samples: TraceSampleRow[];
  events: TraceEvent[];
}

export class TraceFormatError extends Error {
  readonly line: number;
  constructor(source: string, line: number, message: string) {
    super(`${source}:${line}: ${message}`);
    this.name = 'TraceFormatError';
    this.line = line;
  }
}

type Json = Record<string, unknown>;

const SAMPLE_KEYS = new Set(['t', 'gpu', 'usedMiB', 'totalMiB', 'reservedMiB', 'utilGpu', 'utilMem', 'temperatureC', 'powerW', 'processes', 'error']);
const EVENT_KEYS = new Set(['t', 'event', 'gpu']);
const HEADER_KEYS = new Set(['vramGuardTrace', 'title', 'description', 'origin', 'devices']);

/** Parses a whole trace; throws TraceFormatError naming the file and line of the first problem. */
export function parseTrace(text: string, source = 'trace'): Trace {
  const lines = text.split(/\r?\n/);
  const reader = new TraceLineReader(source);
  const samples: TraceSampleRow[] = [];
  const events: TraceEvent[] = [];
  for (const [i, line] of lines.entries()) {
    const item = reader.line(line, i + 1);
    if (item?.kind === 'sample') samples.push(item.row);
    else if (item?.kind === 'event') events.push(item.event);
  }
  if (reader.header === null) throw new TraceFormatError(source, 1, 'empty trace: the first line must be the header {"vramGuardTrace": 1, ...}');
  if (samples.length === 0) throw new TraceFormatError(source, lines.length, 'the trace has a header but no samples');
  return { header: reader.header, samples, events };
}

/**
 * A trace read line by line (for traces too large to hold): the header first, then each line's sample
 * or event. Throws TraceFormatError for a line that is not valid; the reader can go on with the next.
 */
export class TraceLineReader {
  private readonly source: string;
  header: TraceHeader | null = null;
  private lastTime = -Infinity;

  constructor(source = 'trace') {
    this.source = source;
  }

  /** The line's sample or event; null for the header, a blank line or a comment. */
  line(line: string, lineNo: number): { kind: 'sample'; row: TraceSampleRow } | { kind: 'event'; event: TraceEvent } | null {
    const raw = line.trim();
    if (raw === '' || raw.startsWith('//')) return null;
    const fail = (message: string): never => {
      throw new TraceFormatError(this.source, lineNo, message);
    };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      fail(`not valid JSON (${(err as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('expected a JSON object');
    const obj = value as Json;

    if (this.header === null) {
      this.header = parseHeader(obj, fail);
      return null;
    }
    if ('vramGuardTrace' in obj) fail('a second header: the header must be the first line only');

    const time = parseTime(obj.t, fail);
    if (time < this.lastTime) fail(`time ${String(obj.t)} is earlier than the line before: lines must be in time order`);
    this.lastTime = time;

    if ('event' in obj) {
      unknownKeys(obj, EVENT_KEYS, fail);
      if (typeof obj.event !== 'string' || obj.event.trim() === '') fail('"event" must be a non-empty string');
      return { kind: 'event', event: { time, text: obj.event as string, line: lineNo } };
    }
    unknownKeys(obj, SAMPLE_KEYS, fail);
    return { kind: 'sample', row: parseSample(obj, time, this.header, lineNo, fail) };
  }
}

function unknownKeys(obj: Json, allowed: Set<string>, fail: (m: string) => never): void {
  for (const key of Object.keys(obj)) if (!allowed.has(key)) fail(`unknown field "${key}" (allowed: ${[...allowed].join(', ')})`);
}

function parseHeader(obj: Json, fail: (m: string) => never): TraceHeader {
  if (!('vramGuardTrace' in obj)) fail('the first line must be the header {"vramGuardTrace": 1, "title": ..., "devices": [...]}');
  unknownKeys(obj, HEADER_KEYS, fail);
  if (obj.vramGuardTrace !== TRACE_FORMAT_VERSION) {
    fail(`unsupported trace version ${JSON.stringify(obj.vramGuardTrace)} (this version of VRAM Guard reads version ${TRACE_FORMAT_VERSION})`);
  }
  if (typeof obj.title !== 'string' || obj.title.trim() === '') fail('header: "title" must be a non-empty string');
  if (!Array.isArray(obj.devices) || obj.devices.length === 0) fail('header: "devices" must be a non-empty array');
  const devices = (obj.devices as unknown[]).map((d, n): TraceDeviceInfo => {
    if (typeof d !== 'object' || d === null) fail(`header: devices[${n}] must be an object`);
    const dev = d as Json;
    const index = dev.index ?? n;
    if (!Number.isInteger(index) || (index as number) < 0) fail(`header: devices[${n}].index must be a whole number >= 0`);
    const totalMiB = dev.totalMiB;
    if (typeof totalMiB !== 'number' || !(totalMiB > 0)) fail(`header: devices[${n}].totalMiB must be a number > 0`);
    return {
      index: index as number,
      name: optionalString(dev.name, `devices[${n}].name`, fail),
      uuid: optionalString(dev.uuid, `devices[${n}].uuid`, fail),
      totalMiB: totalMiB as number,
    };
  });
  const seen = new Set<number>();
  for (const d of devices) {
    if (seen.has(d.index)) fail(`header: device index ${d.index} is listed twice`);
    seen.add(d.index);
  }
  return {
    version: TRACE_FORMAT_VERSION,
    title: obj.title as string,
    description: optionalString(obj.description, 'description', fail),
    origin: optionalString(obj.origin, 'origin', fail),
    devices,
  };
}

function optionalString(value: unknown, what: string, fail: (m: string) => never): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') fail(`"${what}" must be a string`);
  return value as string;
}

function parseTime(value: unknown, fail: (m: string) => never): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    if (Number.isFinite(ms) && /^\d{4}-\d{2}-\d{2}T/.test(value)) return ms;
  }
  return fail(`"t" must be an ISO 8601 time ("2025-10-31T07:14:57Z") or milliseconds since the epoch, got ${JSON.stringify(value)}`);
}

function optionalNumber(obj: Json, key: string, fail: (m: string) => never, max = Infinity): number | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    fail(`"${key}" must be a number from 0${max === Infinity ? '' : ` to ${max}`}, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function parseSample(obj: Json, time: number, header: TraceHeader, line: number, fail: (m: string) => never): TraceSampleRow {
  const gpu = obj.gpu ?? 0;
  const info = header.devices.find((d) => d.index === gpu);
  if (!info) return fail(`"gpu" ${JSON.stringify(gpu)} is not a device in the header (${header.devices.map((d) => d.index).join(', ')})`);
  const totalMiB = optionalNumber(obj, 'totalMiB', fail) ?? info.totalMiB;
  const error = optionalString(obj.error, 'error', fail);
  const usedMiB = optionalNumber(obj, 'usedMiB', fail);
  if (usedMiB === null && error === null) fail('"usedMiB" is missing (a sample needs it, unless it carries an "error")');
  if (usedMiB !== null && usedMiB > totalMiB) fail(`"usedMiB" ${usedMiB} is more than the device's totalMiB ${totalMiB}`);
  const reservedMiB = optionalNumber(obj, 'reservedMiB', fail);
  if (reservedMiB !== null && (usedMiB ?? 0) + reservedMiB > totalMiB) fail(`usedMiB + reservedMiB is more than totalMiB ${totalMiB}`);
  let processes: TraceProcess[] = [];
  if (obj.processes !== undefined) {
    if (!Array.isArray(obj.processes)) fail('"processes" must be an array');
    processes = (obj.processes as unknown[]).map((p, n) => {
      if (typeof p !== 'object' || p === null) fail(`processes[${n}] must be an object`);
      const proc = p as Json;
      if (!Number.isInteger(proc.pid) || (proc.pid as number) <= 0) fail(`processes[${n}].pid must be a whole number > 0`);
      const used = proc.usedMiB;
      if (used !== null && used !== undefined && (typeof used !== 'number' || used < 0)) fail(`processes[${n}].usedMiB must be a number >= 0 or null`);
      return {
        pid: proc.pid as number,
        name: optionalString(proc.name, `processes[${n}].name`, fail),
        usedMiB: (used as number | undefined) ?? null,
      };
    });
  }
  return {
    time,
    gpu: gpu as number,
    usedMiB: usedMiB ?? 0,
    totalMiB,
    reservedMiB,
    utilGpu: optionalNumber(obj, 'utilGpu', fail, 100),
    utilMem: optionalNumber(obj, 'utilMem', fail, 100),
    temperatureC: optionalNumber(obj, 'temperatureC', fail),
    powerW: optionalNumber(obj, 'powerW', fail),
    processes,
    error,
    line,
  };
}

/** The GpuDevice a trace row stands for. */
export function deviceFromRow(row: TraceSampleRow, info: TraceDeviceInfo | undefined): GpuDevice {
  const device = emptyDevice(row.gpu);
  device.name = info?.name ?? null;
  device.uuid = info?.uuid ?? null;
  if (row.error !== null) {
    device.error = { code: row.error, message: `recorded as ${row.error}` };
    return device;
  }
  const total = Math.round(row.totalMiB * MiB);
  const used = Math.round(row.usedMiB * MiB);
  const reserved = row.reservedMiB === null ? null : Math.round(row.reservedMiB * MiB);
  device.memory = { total, used, free: Math.max(0, total - used - (reserved ?? 0)), reserved };
  device.utilization = { gpu: row.utilGpu, memory: row.utilMem };
  device.temperatureC = row.temperatureC;
  device.powerW = row.powerW;
  device.processes = row.processes.map(
    (p): GpuProcess => ({ pid: p.pid, name: p.name, usedBytes: p.usedMiB === null ? null : Math.round(p.usedMiB * MiB), kind: 'compute' }),
  );
  return device;
}

/** One trace row from a sampled device (for export); null when the device has no memory reading and no error. */
export function rowFromDevice(time: number, device: GpuDevice): Json | null {
  const t = new Date(time).toISOString();
  if (device.memory === null) return device.error ? { t, gpu: device.index, error: device.error.code } : null;
  const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;
  const row: Json = { t, gpu: device.index, usedMiB: mib(device.memory.used), totalMiB: mib(device.memory.total) };
  if (device.memory.reserved !== null) row.reservedMiB = mib(device.memory.reserved);
  if (device.utilization.gpu !== null) row.utilGpu = device.utilization.gpu;
  if (device.utilization.memory !== null) row.utilMem = device.utilization.memory;
  if (device.temperatureC !== null) row.temperatureC = device.temperatureC;
  if (device.powerW !== null) row.powerW = device.powerW;
  if (device.processes.length > 0) {
    row.processes = device.processes.map((p) => ({ pid: p.pid, name: p.name, usedMiB: p.usedBytes === null ? null : mib(p.usedBytes) }));
  }
  return row;
}

/** Writes a trace back to JSON Lines text (header first, then samples and events in time order). */
export function formatTrace(trace: Trace): string {
  const header: Json = { vramGuardTrace: TRACE_FORMAT_VERSION, title: trace.header.title };
  if (trace.header.description !== null) header.description = trace.header.description;
  if (trace.header.origin !== null) header.origin = trace.header.origin;
  header.devices = trace.header.devices.map((d) => ({ index: d.index, name: d.name, uuid: d.uuid, totalMiB: d.totalMiB }));
  const rows: Array<{ time: number; order: number; json: Json }> = [];
  let order = 0;
  for (const s of trace.samples) {
    const info = trace.header.devices.find((d) => d.index === s.gpu);
    const json: Json = { t: new Date(s.time).toISOString(), gpu: s.gpu };
    if (s.error !== null) json.error = s.error;
    else json.usedMiB = s.usedMiB;
    if (info?.totalMiB !== s.totalMiB) json.totalMiB = s.totalMiB;
    if (s.reservedMiB !== null) json.reservedMiB = s.reservedMiB;
    if (s.utilGpu !== null) json.utilGpu = s.utilGpu;
    if (s.utilMem !== null) json.utilMem = s.utilMem;
    if (s.temperatureC !== null) json.temperatureC = s.temperatureC;
    if (s.powerW !== null) json.powerW = s.powerW;
    if (s.processes.length > 0) json.processes = s.processes;
    rows.push({ time: s.time, order: order++, json });
  }
  for (const e of trace.events) rows.push({ time: e.time, order: order++, json: { t: new Date(e.time).toISOString(), event: e.text } });
  rows.sort((a, b) => a.time - b.time || a.order - b.order);
  return `${[JSON.stringify(header), ...rows.map((r) => JSON.stringify(r.json))].join('\n')}\n`;
}
