/**
 * One history record per line of JSON: the format of the files the history store appends to, and of
 * its JSON Lines export.
 *
 *   {"t":1761894897000,"g":[[0,3921674240,4294967296]],"m":[827326464,16777216000,0,8589934592]}
 *   {"t":1761894897000,"e":{"k":"transition","g":0,"x":"GPU 0: WARNING → CRITICAL","l":"critical","b":3921674240,"a":null}}
 *
 * `g`: per GPU [index, used bytes, total bytes]; `m`: [RAM used, RAM total, swap used, swap total] in
 * bytes (absent when unknown). `e`: an event (kind, GPU or null, text, level, used before/after).
 */
import { MAX_PLAUSIBLE_TOTAL_BYTES } from '../gpu/memory-plausibility.ts';
import { LEVELS, type Level } from '../watch/levels.ts';
import { HISTORY_EVENT_KINDS, type HistoryEvent, type HistoryEventKind, type HistoryGpuReading, type HistoryRecord, type HistorySample } from './types.ts';

export const HISTORY_FORMAT_VERSION = 1;

export function encodeSample(s: HistorySample): string {
  let g = '';
  for (const r of s.gpus) g += `${g ? ',' : ''}[${r.gpu},${r.used},${r.total}]`;
  const m = s.system ? `,"m":[${s.system.ramUsed},${s.system.ramTotal},${s.system.swapUsed},${s.system.swapTotal}]` : '';
  return `{"t":${s.t},"g":[${g}]${m}}`;
}

export function encodeEvent(e: HistoryEvent): string {
  return JSON.stringify({ t: e.t, e: { k: e.kind, g: e.gpu, x: e.text, l: e.level, b: e.usedBefore, a: e.usedAfter } });
}

export function encodeRecord(r: HistoryRecord): string {
  return r.type === 'sample' ? encodeSample(r.sample) : encodeEvent(r.event);
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const isIndex = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;
const optCount = (x: unknown): number | null | undefined => (x === null || x === undefined ? null : isCount(x) ? x : undefined);

/** NVML numbers devices from 0; no machine has a thousand GPUs, so a larger index is a corrupt line. */
export const MAX_GPU_INDEX = 1023;
/** No GPU or machine holds a pebibyte: the local sampler's plausibility rule. */
export const MAX_PLAUSIBLE_BYTES = Number(MAX_PLAUSIBLE_TOTAL_BYTES);
/** The largest time a Date holds (ms since the epoch). */
const MAX_TIME_MS = 8.64e15;

/** Why a GPU reading cannot be true (a short phrase: lines skipped are counted by it), or null. */
export function implausibleReading(gpu: number, used: number, total: number): string | null {
  if (gpu > MAX_GPU_INDEX) return `a GPU index above ${MAX_GPU_INDEX}`;
  if (total <= 0 || total > MAX_PLAUSIBLE_BYTES) return 'a GPU total of 0 or above 1 PiB';
  if (used > total) return 'GPU memory used above its total';
  return null;
}

function implausibleSystem(m: number[]): string | null {
  const [ramUsed = 0, ramTotal = 0, swapUsed = 0, swapTotal = 0] = m;
  if (ramTotal > MAX_PLAUSIBLE_BYTES || swapTotal > MAX_PLAUSIBLE_BYTES) return 'a RAM or swap total above 1 PiB';
  if (ramUsed > ramTotal || swapUsed > swapTotal) return 'RAM or swap used above its total';
  return null;
}

/** A record from one line; null when the line is not a valid record (a torn write, or not ours). */
export function decodeLine(line: string): HistoryRecord | null {
  const r = readLine(line);
  return typeof r === 'string' ? null : r;
}

/** A record from one line, or why it is not one (a short phrase, the same for every line skipped for it). */
export function readLine(line: string): HistoryRecord | string {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  return readObject(obj);
}

export function decodeObject(obj: unknown): HistoryRecord | null {
  const r = readObject(obj);
  return typeof r === 'string' ? null : r;
}

/**
 * A record from a parsed line, or why not: the shape, and figures that cannot be true (used above
 * total, a GPU index no machine has, a time no Date holds) — a corrupt line must not reach the chart.
 */
export function readObject(obj: unknown): HistoryRecord | string {
  const notOurs = 'not a history record';
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return notOurs;
  const o = obj as Record<string, unknown>;
  if (!isCount(o.t)) return notOurs;
  if (o.t > MAX_TIME_MS) return 'a time beyond any date';
  if (Array.isArray(o.g)) {
    const gpus: HistoryGpuReading[] = [];
    for (const row of o.g) {
      if (!Array.isArray(row) || row.length !== 3 || !isIndex(row[0]) || !isCount(row[1]) || !isCount(row[2])) return notOurs;
      const why = implausibleReading(row[0], row[1], row[2]);
      if (why) return why;
      gpus.push({ gpu: row[0], used: row[1], total: row[2] });
    }
    let system: HistorySample['system'] = null;
    if (o.m !== undefined) {
      const m = o.m;
      if (!Array.isArray(m) || m.length !== 4 || !m.every(isCount)) return notOurs;
      const why = implausibleSystem(m);
      if (why) return why;
      system = { ramUsed: m[0], ramTotal: m[1], swapUsed: m[2], swapTotal: m[3] };
    }
    return { type: 'sample', sample: { t: o.t, gpus, system } };
  }
  if (typeof o.e === 'object' && o.e !== null) {
    const e = o.e as Record<string, unknown>;
    if (!(HISTORY_EVENT_KINDS as readonly unknown[]).includes(e.k)) return notOurs;
    if (typeof e.x !== 'string') return notOurs;
    const gpu = e.g === null || e.g === undefined ? null : isIndex(e.g) ? e.g : undefined;
    const level = e.l === null || e.l === undefined ? null : (LEVELS as readonly unknown[]).includes(e.l) ? (e.l as Level) : undefined;
    const before = optCount(e.b);
    const after = optCount(e.a);
    if (gpu === undefined || level === undefined || before === undefined || after === undefined) return notOurs;
    if (gpu !== null && gpu > MAX_GPU_INDEX) return `a GPU index above ${MAX_GPU_INDEX}`;
    if ((before ?? 0) > MAX_PLAUSIBLE_BYTES || (after ?? 0) > MAX_PLAUSIBLE_BYTES) return 'an event figure above 1 PiB';
    return { type: 'event', event: { t: o.t, kind: e.k as HistoryEventKind, gpu, text: e.x, level, usedBefore: before, usedAfter: after } };
  }
  return notOurs;
}
