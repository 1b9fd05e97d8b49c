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

/** A record from one line; null when the line is not a valid record (a torn write, or not ours). */
export function decodeLine(line: string): HistoryRecord | null {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return null;
  }
  return decodeObject(obj);
}

export function decodeObject(obj: unknown): HistoryRecord | null {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return null;
  const o = obj as Record<string, unknown>;
  if (!isCount(o.t)) return null;
  if (Array.isArray(o.g)) {
    const gpus: HistoryGpuReading[] = [];
    for (const row of o.g) {
      if (!Array.isArray(row) || row.length !== 3 || !isIndex(row[0]) || !isCount(row[1]) || !isCount(row[2])) return null;
      gpus.push({ gpu: row[0], used: row[1], total: row[2] });
    }
    let system: HistorySample['system'] = null;
    if (o.m !== undefined) {
      const m = o.m;
      if (!Array.isArray(m) || m.length !== 4 || !m.every(isCount)) return null;
      system = { ramUsed: m[0], ramTotal: m[1], swapUsed: m[2], swapTotal: m[3] };
    }
    return { type: 'sample', sample: { t: o.t, gpus, system } };
  }
  if (typeof o.e === 'object' && o.e !== null) {
    const e = o.e as Record<string, unknown>;
    if (!(HISTORY_EVENT_KINDS as readonly unknown[]).includes(e.k)) return null;
    if (typeof e.x !== 'string') return null;
    const gpu = e.g === null || e.g === undefined ? null : isIndex(e.g) ? e.g : undefined;
    const level = e.l === null || e.l === undefined ? null : (LEVELS as readonly unknown[]).includes(e.l) ? (e.l as Level) : undefined;
    const before = optCount(e.b);
    const after = optCount(e.a);
    if (gpu === undefined || level === undefined || before === undefined || after === undefined) return null;
    return { type: 'event', event: { t: o.t, kind: e.k as HistoryEventKind, gpu, text: e.x, level, usedBefore: before, usedAfter: after } };
  }
  return null;
}
