/**
 * History export and import. Export: CSV (one row per GPU per sample, events as rows of their own)
 * and JSON Lines (a header, then the store's own lines, lines.ts). Import: the same two, the
 * CSV log of `nvidia-smi --query-gpu=timestamp,index,memory.used,memory.total --format=csv` (with or
 * without header and units), and VRAM Guard traces (docs/trace-format.md) — so a log from another
 * machine can be read on the dashboard.
 */
import { parseTrace } from '../gpu/trace-format.ts';
import { MiB } from '../units.ts';
import { decodeLine, decodeObject, encodeRecord, HISTORY_FORMAT_VERSION } from './lines.ts';
import type { HistoryEvent, HistoryRecord, HistorySample } from './types.ts';

export type ExportFormat = 'csv' | 'jsonl';
export type ImportFormat = 'jsonl' | 'csv' | 'nvidia-smi' | 'trace';

export interface ImportedHistory {
  format: ImportFormat;
  title: string;
  /** In time order. */
  records: HistoryRecord[];
  /** Lines skipped, with their numbers (at most 20 listed). */
  skipped: string[];
}

export class HistoryImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryImportError';
  }
}

export const CSV_HEADER = 'time,gpu,used_mib,total_mib,ram_used_mib,ram_total_mib,swap_used_mib,swap_total_mib,event_kind,event';

const mib = (bytes: number) => String(Math.round((bytes / MiB) * 10) / 10);
const iso = (t: number) => new Date(t).toISOString();

function csvQuote(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV rows of one record (no header). */
export function csvRows(r: HistoryRecord): string[] {
  if (r.type === 'event') {
    const e = r.event;
    const used = e.usedAfter ?? e.usedBefore;
    return [`${iso(e.t)},${e.gpu ?? ''},${used !== null ? mib(used) : ''},,,,,,${e.kind},${csvQuote(e.text)}`];
  }
  const s = r.sample;
  const sys = s.system ? `${mib(s.system.ramUsed)},${mib(s.system.ramTotal)},${mib(s.system.swapUsed)},${mib(s.system.swapTotal)}` : ',,,';
  if (!s.gpus.length) return [`${iso(s.t)},,,,${sys},,`];
  return s.gpus.map((g) => `${iso(s.t)},${g.gpu},${mib(g.used)},${mib(g.total)},${sys},,`);
}

export function jsonlHeader(title: string): string {
  return JSON.stringify({ vramGuardHistory: HISTORY_FORMAT_VERSION, title, exported: new Date().toISOString() });
}

/** Writes records in a format, chunk by chunk (so a week of history never sits in one string). */
export async function exportRecords(records: AsyncIterable<HistoryRecord[]> | Iterable<HistoryRecord[]>, format: ExportFormat, title: string, write: (chunk: string) => Promise<void>): Promise<number> {
  await write((format === 'csv' ? CSV_HEADER : jsonlHeader(title)) + '\n');
  let count = 0;
  for await (const batch of records) {
    const lines: string[] = [];
    for (const r of batch) {
      if (format === 'csv') lines.push(...csvRows(r));
      else lines.push(encodeRecord(r));
      count++;
    }
    if (lines.length) await write(lines.join('\n') + '\n');
  }
  return count;
}

/** Reads any of the supported formats; throws HistoryImportError when nothing in it can be read. */
export function importHistory(text: string, name: string): ImportedHistory {
  const lines = text.split(/\r?\n/);
  const firstIndex = lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('//'));
  if (firstIndex < 0) throw new HistoryImportError(`${name} is empty.`);
  const first = lines[firstIndex]!.trim();
  let result: ImportedHistory;
  if (first.startsWith('{')) {
    if (/"vramGuardTrace"\s*:/.test(first)) result = fromTrace(text, name);
    else result = fromJsonl(lines, name);
  } else if (/^time,gpu,used_mib/i.test(first)) result = fromOurCsv(lines, name);
  else if (/memory\.used/i.test(first) || /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}/.test(first)) result = fromNvidiaSmi(lines, name);
  else throw new HistoryImportError(`${name}: the first line is not a VRAM Guard history, a VRAM Guard trace, or an nvidia-smi --query-gpu CSV log (it reads ${JSON.stringify(first.slice(0, 80))}).`);
  if (!result.records.some((r) => r.type === 'sample')) {
    throw new HistoryImportError(`${name}: no samples could be read${result.skipped.length ? ` (${result.skipped.slice(0, 3).join('; ')})` : ''}.`);
  }
  result.records.sort((a, b) => timeOf(a) - timeOf(b));
  return result;
}

const timeOf = (r: HistoryRecord) => (r.type === 'sample' ? r.sample.t : r.event.t);

function skip(skipped: string[], line: number, why: string): void {
  if (skipped.length < 20) skipped.push(`line ${line}: ${why}`);
}

function fromJsonl(lines: string[], name: string): ImportedHistory {
  const records: HistoryRecord[] = [];
  const skipped: string[] = [];
  let title = name;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('//')) return;
    if (line.includes('"vramGuardHistory"')) {
      try {
        const h = JSON.parse(line) as { vramGuardHistory?: unknown; title?: unknown };
        if (h.vramGuardHistory !== HISTORY_FORMAT_VERSION) throw new HistoryImportError(`${name}:${i + 1}: unsupported history version ${JSON.stringify(h.vramGuardHistory)}`);
        if (typeof h.title === 'string') title = h.title;
        return;
      } catch (err) {
        if (err instanceof HistoryImportError) throw err;
      }
    }
    const r = decodeLine(line);
    if (r) records.push(r);
    else skip(skipped, i + 1, 'not a history record');
  });
  return { format: 'jsonl', title, records, skipped };
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (cur += '"', i++);
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') (out.push(cur), (cur = ''));
    else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

/** "3740", "3740 MiB", "3740.5" → MiB; null for [N/A], [Not Supported] and the like. */
function mibValue(text: string | undefined): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(MiB)?$/i.exec(text ?? '');
  return m ? Number(m[1]) : null;
}

function fromOurCsv(lines: string[], name: string): ImportedHistory {
  const records: HistoryRecord[] = [];
  const skipped: string[] = [];
  let current: HistorySample | null = null;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.trim()) continue;
    const [time, gpu, used, total, ramUsed, ramTotal, swapUsed, swapTotal, kind, text] = splitCsv(line);
    const t = Date.parse(time ?? '');
    if (!Number.isFinite(t)) {
      skip(skipped, i + 1, `time ${JSON.stringify(time)} is not an ISO 8601 time`);
      continue;
    }
    const gpuIndex = gpu === '' || gpu === undefined ? null : Number(gpu);
    if (kind) {
      const decoded = decodeObject({ t, e: { k: kind, g: gpuIndex, x: text ?? '', l: null, b: null, a: null } });
      if (decoded) records.push(decoded);
      else skip(skipped, i + 1, `unknown event kind ${JSON.stringify(kind)}`);
      continue;
    }
    const u = mibValue(used);
    const tot = mibValue(total);
    const ram = [ramUsed, ramTotal, swapUsed, swapTotal].map(mibValue);
    const system = ram.every((x) => x !== null) ? { ramUsed: ram[0]! * MiB, ramTotal: ram[1]! * MiB, swapUsed: ram[2]! * MiB, swapTotal: ram[3]! * MiB } : null;
    if (!current || current.t !== t) {
      current = { t, gpus: [], system };
      records.push({ type: 'sample', sample: current });
    }
    if (gpuIndex !== null) {
      if (!Number.isInteger(gpuIndex) || gpuIndex < 0 || u === null || tot === null) {
        skip(skipped, i + 1, 'gpu, used_mib and total_mib must be numbers');
        continue;
      }
      current.gpus.push({ gpu: gpuIndex, used: Math.round(u * MiB), total: Math.round(tot * MiB) });
    }
  }
  return { format: 'csv', title: name, records, skipped };
}

/** nvidia-smi's timestamp, "2025/10/31 07:14:57.123", in this machine's local time (nvidia-smi writes no zone). */
export function parseNvidiaSmiTime(text: string): number | null {
  const m = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, ms] = m;
  const t = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number((ms ?? '0').padEnd(3, '0'))).getTime();
  return Number.isFinite(t) ? t : null;
}

function fromNvidiaSmi(lines: string[], name: string): ImportedHistory {
  const records: HistoryRecord[] = [];
  const skipped: string[] = [];
  // Default column order: the documented query, for logs written with --format=csv,noheader.
  let cols = { time: 0, index: 1, used: 2, total: 3 };
  let pending: HistorySample | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const fields = splitCsv(line);
    if (/memory\.used/i.test(line)) {
      // A header (nvidia-smi -l repeats it when restarted): find the columns by name.
      const find = (re: RegExp) => fields.findIndex((f) => re.test(f));
      const c = { time: find(/^timestamp/i), index: find(/^index/i), used: find(/^memory\.used/i), total: find(/^memory\.total/i) };
      if (c.time < 0 || c.used < 0 || c.total < 0) throw new HistoryImportError(`${name}:${i + 1}: the nvidia-smi header needs timestamp, memory.used and memory.total (query them with --query-gpu=timestamp,index,memory.used,memory.total --format=csv).`);
      cols = c;
      continue;
    }
    const t = parseNvidiaSmiTime(fields[cols.time] ?? '');
    if (t === null) {
      skip(skipped, i + 1, `timestamp ${JSON.stringify(fields[cols.time])} is not nvidia-smi's "YYYY/MM/DD HH:MM:SS.mmm"`);
      continue;
    }
    const gpu = cols.index >= 0 ? Number(fields[cols.index]) : 0;
    const used = mibValue(fields[cols.used]);
    const total = mibValue(fields[cols.total]);
    if (!Number.isInteger(gpu) || gpu < 0 || used === null || total === null) {
      skip(skipped, i + 1, `no memory figures (${fields.join(', ')})`);
      continue;
    }
    if (!pending || pending.t !== t || pending.gpus.some((g) => g.gpu === gpu)) {
      pending = { t, gpus: [], system: null };
      records.push({ type: 'sample', sample: pending });
    }
    pending.gpus.push({ gpu, used: Math.round(used * MiB), total: Math.round(total * MiB) });
  }
  return { format: 'nvidia-smi', title: name, records, skipped };
}

function fromTrace(text: string, name: string): ImportedHistory {
  let trace;
  try {
    trace = parseTrace(text, name);
  } catch (err) {
    throw new HistoryImportError((err as Error).message);
  }
  const records: HistoryRecord[] = [];
  let pending: HistorySample | null = null;
  for (const row of trace.samples) {
    if (row.error !== null) continue;
    if (!pending || pending.t !== row.time || pending.gpus.some((g) => g.gpu === row.gpu)) {
      pending = { t: row.time, gpus: [], system: null };
      records.push({ type: 'sample', sample: pending });
    }
    pending.gpus.push({ gpu: row.gpu, used: Math.round(row.usedMiB * MiB), total: Math.round(row.totalMiB * MiB) });
  }
  for (const e of trace.events) {
    const event: HistoryEvent = { t: e.time, kind: 'note', gpu: null, text: e.text, level: null, usedBefore: null, usedAfter: null };
    records.push({ type: 'event', event });
  }
  return { format: 'trace', title: trace.header.title, records, skipped: [] };
}
