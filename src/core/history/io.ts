/**
 * History export and import. Export: CSV (one row per GPU per sample, events as rows of their own)
 * and JSON Lines (a header, then the store's own lines, lines.ts). Import: the same two, the
 * CSV log of `nvidia-smi --query-gpu=timestamp,index,memory.used,memory.total --format=csv` (with or
 * without header and units), and VRAM Guard traces (docs/trace-format.md) — so a log from another
 * machine can be read on the dashboard.
 */
import { type TraceLine, TraceFormatError, TraceLineReader } from '../gpu/trace-format.ts';
import { TimeSlicer } from '../time-slicer.ts';
import { formatMiB, MiB } from '../units.ts';
import { decodeObject, encodeRecord, HISTORY_FORMAT_VERSION, implausibleReading, readLine } from './lines.ts';
import { HistoryStore } from './store.ts';
import { LineStream } from './line-stream.ts';
import type { HistoryRecord, HistorySample } from './types.ts';

export type ExportFormat = 'csv' | 'jsonl';
export type ImportFormat = 'jsonl' | 'csv' | 'nvidia-smi' | 'trace';

export interface ImportedHistory {
  format: ImportFormat;
  title: string;
  /** In time order. */
  records: HistoryRecord[];
  /** Lines skipped, with their numbers (at most 20 listed), and what the caps left out. */
  skipped: string[];
  /** How many lines were skipped in all. */
  skippedLines: number;
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

/** Cells a spreadsheet would run as a formula: `=`, `+`, `-`, `@`, tab or carriage return first. */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A text cell safe to open in a spreadsheet: one that would start a formula gets a leading `'`, which
 * spreadsheets show as text (OWASP's advice for CSV injection). Import removes it again.
 */
export function neutraliseCell(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** The text of a cell written by `neutraliseCell`. */
export function unneutralise(text: string): string {
  return text.startsWith("'") && FORMULA_START.test(text.slice(1)) ? text.slice(1) : text;
}

/** The CSV rows of one record (no header). */
export function csvRows(r: HistoryRecord): string[] {
  if (r.type === 'event') {
    const e = r.event;
    const used = e.usedAfter ?? e.usedBefore;
    return [`${iso(e.t)},${e.gpu ?? ''},${used !== null ? mib(used) : ''},,,,,,${e.kind},${csvQuote(neutraliseCell(e.text))}`];
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
export async function exportRecords(
  records: AsyncIterable<HistoryRecord[]> | Iterable<HistoryRecord[]>,
  format: ExportFormat,
  title: string,
  write: (chunk: string) => Promise<void>,
): Promise<number> {
  await write(`${format === 'csv' ? CSV_HEADER : jsonlHeader(title)}\n`);
  let count = 0;
  for await (const batch of records) {
    const lines: string[] = [];
    for (const r of batch) {
      if (format === 'csv') lines.push(...csvRows(r));
      else lines.push(encodeRecord(r));
      count++;
    }
    if (lines.length) await write(`${lines.join('\n')}\n`);
  }
  return count;
}

/** Import limits: larger files are read up to the size cap, longer lines are skipped; both are said. */
export interface ImportLimits {
  /** Characters read at most; the rest of a larger file is skipped (default 512 Mi). */
  maxChars: number;
  /** Lines longer than this are skipped (default 256 Ki characters). */
  maxLineChars: number;
}

export const DEFAULT_IMPORT_LIMITS: ImportLimits = { maxChars: 512 * MiB, maxLineChars: 256 * 1024 };

/** Reads any of the supported formats from a whole text; throws HistoryImportError when nothing in it can be read. */
export function importHistory(text: string, name: string): ImportedHistory {
  const records: HistoryRecord[] = [];
  const parser = new ImportParser(name, DEFAULT_IMPORT_LIMITS, (r) => void records.push(r));
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) parser.line(line, i + 1);
  const result = parser.finish();
  records.sort((a, b) => timeOf(a) - timeOf(b));
  return { ...result, records };
}

export interface ImportStreamOptions {
  limits?: Partial<ImportLimits>;
  /** Cancels the import (it throws the signal's reason). */
  signal?: AbortSignal;
  /** Characters read so far, now and then. */
  onProgress?: (chars: number) => void;
}

/** An import read into an in-memory store (the dashboard shows it whole). */
export interface ImportedStore extends Omit<ImportedHistory, 'records'> {
  store: HistoryStore;
  /** Records read into the store. */
  records: number;
}

/** Where a streamed import's records go: the dashboard's store, or a new file in the history folder. */
export interface ImportSink {
  /** Takes a record read (in file order), or refuses it by saying why (its line is then skipped). */
  take(record: HistoryRecord): string | null;
  /**
   * Called every few hundred lines (`chunkEnd` false) and after each chunk and at the end (true):
   * give the event loop a turn, write what was taken (at the latest when `chunkEnd`).
   */
  drain?(chunkEnd: boolean): Promise<void>;
}

/** What a streamed import read: its format and title, the lines skipped, and the records taken. */
export interface StreamedImport extends Omit<ImportedHistory, 'records'> {
  /** Records the sink took. */
  records: number;
}

/** Events an imported view holds: more would cost the editor memory for markers no one can tell apart. */
export const IMPORT_MAX_EVENTS = 100_000;

/**
 * Reads a file's text as it streams in, straight into an in-memory store, giving the event loop a
 * turn every few milliseconds: a million lines never freeze the editor, and no record is held twice.
 * What is left out is said in `skipped`: lines over the line cap, text past the size cap, samples
 * earlier than the one before them, implausible figures, and events beyond IMPORT_MAX_EVENTS.
 */
export async function importHistoryStream(chunks: AsyncIterable<string | Buffer>, name: string, options: ImportStreamOptions = {}): Promise<ImportedStore> {
  // Slices of 4 ms: a stop of the whole loop for a garbage collection still stays short.
  const slicer = new TimeSlicer({ signal: options.signal, budgetMs: 4 });
  const store = new HistoryStore({
    dir: null,
    retentionMs: Number.MAX_SAFE_INTEGER / 4,
    recentMs: Number.MAX_SAFE_INTEGER / 4,
    maxEvents: IMPORT_MAX_EVENTS,
  });
  const sink: ImportSink = {
    take: (r) => {
      store.apply(r);
      return null;
    },
    drain: async () => {
      if (slicer.due()) await slicer.yield();
    },
  };
  const result = await readHistoryStream(chunks, name, sink, options);
  const over = store.eventsOverCap();
  if (over)
    result.skipped.unshift(
      `${over} of ${over + store.events().length} events left out: an imported view holds the last ${IMPORT_MAX_EVENTS} (every sample is shown)`,
    );
  return { ...result, store };
}

/**
 * Reads any of the supported formats as its text streams in, a chunk at a time, handing each record
 * to `sink` in file order (memory stays bounded by a chunk and the sink). Samples must come in time
 * order — the history only moves forward — so a sample earlier than the one before it is skipped and
 * said. Throws HistoryImportError when nothing in it can be read.
 */
export async function readHistoryStream(
  chunks: AsyncIterable<string | Buffer>,
  name: string,
  sink: ImportSink,
  options: ImportStreamOptions = {},
): Promise<StreamedImport> {
  const limits = { ...DEFAULT_IMPORT_LIMITS, ...options.limits };
  let lastT = -Infinity;
  let count = 0;
  let lineNo = 0;
  const parser = new ImportParser(name, limits, (r) => {
    if (r.type === 'sample') {
      if (r.sample.t < lastT)
        return `time ${new Date(r.sample.t).toISOString()} is earlier than the sample before it (${new Date(lastT).toISOString()}): a log must be in time order`;
      lastT = r.sample.t;
    }
    const refused = sink.take(r);
    if (refused === null) count++;
    return refused;
  });
  const reader = new LineStream({ maxLineChars: limits.maxLineChars, maxChars: limits.maxChars });
  options.signal?.throwIfAborted();
  let progressAt = 0;
  for await (const batch of reader.lines(chunks)) {
    for (const line of batch) {
      lineNo = line.lineNo;
      if (line.text === null) parser.tooLong(line.lineNo, line.length);
      else parser.line(line.text, line.lineNo);
      // Long chunks (a 1 MiB read of short lines) give the sink a turn within them, too.
      if ((lineNo & 255) === 0) await sink.drain?.(false);
    }
    await sink.drain?.(true);
    if (reader.read - progressAt >= 1 << 20) {
      progressAt = reader.read;
      options.onProgress?.(reader.read);
    }
    options.signal?.throwIfAborted();
  }
  if (reader.truncated())
    parser.note(
      `the file is larger than the ${limits.maxChars} characters (${formatMiB(limits.maxChars)}) an import reads: only those were read (to line ${lineNo}); the rest of the file was skipped`,
    );
  const result = parser.finish();
  await sink.drain?.(true);
  return { ...result, records: count };
}

const timeOf = (r: HistoryRecord) => (r.type === 'sample' ? r.sample.t : r.event.t);

/** Line by line: the format is chosen by the first line that is not blank or a comment. */
export class ImportParser {
  private readonly name: string;
  private readonly limits: ImportLimits;
  private format: LineFormat | null = null;
  private readonly skipped: string[] = [];
  private skippedCount = 0;
  private readonly notes: string[] = [];
  private readonly emit: (record: HistoryRecord) => string | null | undefined;
  private samples = 0;

  /** `emit` takes each record; it may refuse one by returning why (the record's line is then skipped). */
  constructor(name: string, limits: ImportLimits, emit: (record: HistoryRecord) => string | null | undefined) {
    this.name = name;
    this.limits = limits;
    this.emit = emit;
  }

  private take(record: HistoryRecord, lineNo: number): void {
    const refused = this.emit(record);
    if (refused) this.skip(lineNo, refused);
    else if (record.type === 'sample') this.samples++;
  }

  line(raw: string, lineNo: number): void {
    if (!this.format) {
      const first = raw.trim();
      if (first === '' || first.startsWith('//')) return;
      this.format = this.choose(first);
    }
    this.format.line(
      raw,
      lineNo,
      (why) => this.skip(lineNo, why),
      (r, at) => this.take(r, at ?? lineNo),
    );
  }

  tooLong(lineNo: number, length: number): void {
    this.skip(lineNo, `${length} characters long, more than the ${this.limits.maxLineChars} a line may be: skipped`);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  private skip(lineNo: number, why: string): void {
    this.skippedCount++;
    if (this.skipped.length < 20) this.skipped.push(lineNo ? `line ${lineNo}: ${why}` : why);
  }

  private choose(first: string): LineFormat {
    const name = this.name;
    if (first.startsWith('{')) return /"vramGuardTrace"\s*:/.test(first) ? new TraceLines(name) : new JsonlLines(name);
    if (/^time,gpu,used_mib/i.test(first)) return new OurCsvLines(name);
    if (/memory\.used/i.test(first) || /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}/.test(first)) return new NvidiaSmiLines(name);
    throw new HistoryImportError(
      `${name}: the first line is not a VRAM Guard history, a VRAM Guard trace, or an nvidia-smi --query-gpu CSV log (it reads ${JSON.stringify(first.slice(0, 80))}).`,
    );
  }

  finish(): Omit<ImportedHistory, 'records'> {
    if (!this.format) throw new HistoryImportError(`${this.name} is empty.`);
    const { format, title } = this.format.finish((r, at) => this.take(r, at ?? 0));
    if (this.skippedCount > this.skipped.length) this.skipped.push(`… ${this.skippedCount - this.skipped.length} more line(s) skipped`);
    const skipped = [...this.notes, ...this.skipped];
    if (!this.samples) {
      throw new HistoryImportError(`${this.name}: no samples could be read${skipped.length ? ` (${skipped.slice(0, 3).join('; ')})` : ''}.`);
    }
    return { format, title, skipped, skippedLines: this.skippedCount };
  }
}

/** Hands a finished record on, with the line it started on. */
type Emit = (record: HistoryRecord, lineNo?: number) => void;

interface LineFormat {
  line(raw: string, lineNo: number, skip: (why: string) => void, emit: Emit): void;
  /** Emits what is still held (a sample whose rows may continue) and names the format and title. */
  finish(emit: Emit): { format: ImportFormat; title: string };
}

class JsonlLines implements LineFormat {
  private readonly name: string;
  private title: string;

  constructor(name: string) {
    this.name = name;
    this.title = name;
  }

  line(raw: string, lineNo: number, skip: (why: string) => void, emit: Emit): void {
    const line = raw.trim();
    if (!line || line.startsWith('//')) return;
    if (line.includes('"vramGuardHistory"')) {
      try {
        const h = JSON.parse(line) as { vramGuardHistory?: unknown; title?: unknown };
        if (h.vramGuardHistory !== HISTORY_FORMAT_VERSION)
          throw new HistoryImportError(`${this.name}:${lineNo}: unsupported history version ${JSON.stringify(h.vramGuardHistory)}`);
        if (typeof h.title === 'string') this.title = h.title.slice(0, 200);
        return;
      } catch (err) {
        if (err instanceof HistoryImportError) throw err;
      }
    }
    const r = readLine(line);
    if (typeof r !== 'string') emit(r);
    else skip(r === 'not JSON' || r === 'not a history record' ? 'not a history record' : `not plausible: ${r}`);
  }

  finish() {
    return { format: 'jsonl' as const, title: this.title };
  }
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

/** "3740", "3740 MiB", "3740.5" → MiB; null for [N/A], [Not Supported] and the like. */
function mibValue(text: string | undefined): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(MiB)?$/i.exec(text ?? '');
  return m ? Number(m[1]) : null;
}

class OurCsvLines implements LineFormat {
  private readonly name: string;
  private current: { sample: HistorySample; lineNo: number } | null = null;
  private header = true;

  constructor(name: string) {
    this.name = name;
  }

  line(line: string, lineNo: number, skip: (why: string) => void, emit: Emit): void {
    if (this.header) {
      this.header = false;
      return;
    }
    if (!line.trim()) return;
    const [time, gpu, used, total, ramUsed, ramTotal, swapUsed, swapTotal, kind, text] = splitCsv(line);
    const t = Date.parse(time ?? '');
    if (!Number.isFinite(t)) {
      skip(`time ${JSON.stringify(time?.slice(0, 40))} is not an ISO 8601 time`);
      return;
    }
    const gpuIndex = gpu === '' || gpu === undefined ? null : Number(gpu);
    if (kind) {
      const decoded = decodeObject({ t, e: { k: kind, g: gpuIndex, x: unneutralise(text ?? ''), l: null, b: null, a: null } });
      if (decoded) emit(decoded);
      else skip(`unknown event kind ${JSON.stringify(kind.slice(0, 40))}`);
      return;
    }
    const u = mibValue(used);
    const tot = mibValue(total);
    const [ramU, ramT, swapU, swapT] = [ramUsed, ramTotal, swapUsed, swapTotal].map(mibValue);
    const system =
      ramU != null && ramT != null && swapU != null && swapT != null
        ? { ramUsed: ramU * MiB, ramTotal: ramT * MiB, swapUsed: swapU * MiB, swapTotal: swapT * MiB }
        : null;
    if (!this.current || this.current.sample.t !== t) {
      this.finish(emit);
      this.current = { sample: { t, gpus: [], system }, lineNo };
    }
    if (gpuIndex !== null) {
      if (!Number.isInteger(gpuIndex) || gpuIndex < 0 || u === null || tot === null) {
        skip('gpu, used_mib and total_mib must be numbers');
        return;
      }
      const reading = { gpu: gpuIndex, used: Math.round(u * MiB), total: Math.round(tot * MiB) };
      const why = implausibleReading(reading.gpu, reading.used, reading.total);
      if (why) {
        skip(`not plausible: ${why} (GPU ${gpu}, ${used} of ${total} MiB)`);
        return;
      }
      this.current.sample.gpus.push(reading);
    }
  }

  finish(emit: Emit) {
    if (this.current) emit({ type: 'sample', sample: this.current.sample }, this.current.lineNo);
    this.current = null;
    return { format: 'csv' as const, title: this.name };
  }
}

/** nvidia-smi's timestamp, "2025/10/31 07:14:57.123", in this machine's local time (nvidia-smi writes no zone). */
export function parseNvidiaSmiTime(text: string): number | null {
  const m = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, ms] = m;
  const t = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number((ms ?? '0').padEnd(3, '0'))).getTime();
  return Number.isFinite(t) ? t : null;
}

class NvidiaSmiLines implements LineFormat {
  private readonly name: string;
  // Default column order: the documented query, for logs written with --format=csv,noheader.
  private cols = { time: 0, index: 1, used: 2, total: 3 };
  private pending: { sample: HistorySample; lineNo: number } | null = null;

  constructor(name: string) {
    this.name = name;
  }

  line(raw: string, lineNo: number, skip: (why: string) => void, emit: Emit): void {
    const line = raw.trim();
    if (!line) return;
    const fields = splitCsv(line);
    const cols = this.cols;
    if (/memory\.used/i.test(line)) {
      // A header (nvidia-smi -l repeats it when restarted): find the columns by name.
      const find = (re: RegExp) => fields.findIndex((f) => re.test(f));
      const c = { time: find(/^timestamp/i), index: find(/^index/i), used: find(/^memory\.used/i), total: find(/^memory\.total/i) };
      if (c.time < 0 || c.used < 0 || c.total < 0)
        throw new HistoryImportError(
          `${this.name}:${lineNo}: the nvidia-smi header needs timestamp, memory.used and memory.total (query them with --query-gpu=timestamp,index,memory.used,memory.total --format=csv).`,
        );
      this.cols = c;
      return;
    }
    const t = parseNvidiaSmiTime(fields[cols.time] ?? '');
    if (t === null) {
      skip(`timestamp ${JSON.stringify(fields[cols.time]?.slice(0, 40))} is not nvidia-smi's "YYYY/MM/DD HH:MM:SS.mmm"`);
      return;
    }
    const gpu = cols.index >= 0 ? Number(fields[cols.index]) : 0;
    const used = mibValue(fields[cols.used]);
    const total = mibValue(fields[cols.total]);
    if (!Number.isInteger(gpu) || gpu < 0 || used === null || total === null) {
      skip(`no memory figures (${fields.join(', ').slice(0, 120)})`);
      return;
    }
    const why = implausibleReading(gpu, used * MiB, total * MiB);
    if (why) {
      skip(`not plausible: ${why} (${fields.join(', ').slice(0, 120)})`);
      return;
    }
    let pending = this.pending?.sample;
    if (!pending || pending.t !== t || pending.gpus.some((g) => g.gpu === gpu)) {
      this.finish(emit);
      pending = { t, gpus: [], system: null };
      this.pending = { sample: pending, lineNo };
    }
    pending.gpus.push({ gpu, used: Math.round(used * MiB), total: Math.round(total * MiB) });
  }

  finish(emit: Emit) {
    if (this.pending) emit({ type: 'sample', sample: this.pending.sample }, this.pending.lineNo);
    this.pending = null;
    return { format: 'nvidia-smi' as const, title: this.name };
  }
}

/**
 * A VRAM Guard trace, read a line at a time by the trace's own rules (TraceLineReader): a header
 * that breaks them refuses the file; a later line that does is skipped with the trace's reason. The
 * rows of one time form one sample; a row that carries a GPU error instead of figures is skipped
 * and said.
 */
class TraceLines implements LineFormat {
  private readonly name: string;
  private readonly reader: TraceLineReader;
  private pending: { sample: HistorySample; lineNo: number } | null = null;

  constructor(name: string) {
    this.name = name;
    this.reader = new TraceLineReader(name);
  }

  line(raw: string, lineNo: number, skip: (why: string) => void, emit: Emit): void {
    let read: TraceLine | null;
    try {
      read = this.reader.line(raw, lineNo);
    } catch (err) {
      if (!(err instanceof TraceFormatError)) throw err;
      if (this.reader.title === null) throw new HistoryImportError(err.message);
      skip(err.message.slice(`${this.name}:${lineNo}: `.length));
      return;
    }
    if (read === null || read.kind === 'header') return;
    if (read.kind === 'event') {
      emit({ type: 'event', event: { t: read.event.time, kind: 'note', gpu: null, text: read.event.text, level: null, usedBefore: null, usedAfter: null } });
      return;
    }
    const row = read.row;
    if (row.error !== null) {
      skip(`GPU ${row.gpu} reported the error ${JSON.stringify(row.error.slice(0, 80))} instead of memory figures`);
      return;
    }
    const reading = { gpu: row.gpu, used: Math.round(row.usedMiB * MiB), total: Math.round(row.totalMiB * MiB) };
    const why = implausibleReading(reading.gpu, reading.used, reading.total);
    if (why) {
      skip(`not plausible: ${why}`);
      return;
    }
    const pending = this.pending?.sample;
    if (!pending || pending.t !== row.time || pending.gpus.some((g) => g.gpu === row.gpu)) {
      this.finish(emit);
      this.pending = { sample: { t: row.time, gpus: [reading], system: null }, lineNo };
    } else pending.gpus.push(reading);
  }

  finish(emit: Emit) {
    if (this.pending) emit({ type: 'sample', sample: this.pending.sample }, this.pending.lineNo);
    this.pending = null;
    return { format: 'trace' as const, title: this.reader.title ?? this.name };
  }
}
