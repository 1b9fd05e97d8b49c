/**
 * What llama.cpp printed about its own memory as it loaded a model, read from the server's output
 * as it streams: the `model buffer size`, `KV buffer size`, `RS buffer size`, `compute buffer size`
 * and `output buffer size` lines (one per buffer type: "CUDA0", "CPU_Mapped", "CUDA_Host"), and the
 * memory breakdown table (`common_memory_breakdown_print`), as plain text or as `--log-jsonl` JSON
 * lines. In current builds these lines print at verbose level (`-lv 4` or `-v`).
 *
 * With `--fit` on (llama-server's default) the server first sizes everything without allocating
 * (the same lines, with `0.00 MiB` model buffers, only shown with `-v`), then loads for real: a
 * pass whose model buffers are all zero, or that `print_info` marks `no_alloc = 1`, is dropped. The
 * report is complete once the real pass's compute buffer lines have been printed; what follows (a
 * draft model's own load) does not change it, except the memory breakdown table, which llama-server
 * prints as it stops and which is kept when it comes.
 *
 * Bounded whatever the server writes: a line longer than MAX_LINE_CHARS is skipped as it streams
 * (never held), a report keeps at most MAX_BUFFERS buffer lines and MAX_ROWS table rows, and a
 * figure that is not a finite, non-negative number of MiB below MAX_MIB is not taken.
 */
import { StringDecoder } from 'node:string_decoder';
import { MiB } from '../units.ts';

/** Lines are skipped beyond this many characters (a report line is under 300). */
export const MAX_LINE_CHARS = 64 * 1024;
/** Buffer lines kept in one pass, and rows in one table. */
export const MAX_BUFFERS = 64;
export const MAX_ROWS = 64;
/** Larger figures are not believed (1 PiB in MiB). */
export const MAX_MIB = 1024 ** 3;

export type PrintedPart = 'model' | 'kv' | 'rs' | 'compute' | 'output';

export interface PrintedBuffer {
  part: PrintedPart;
  /** llama.cpp's buffer type name: "CUDA0", "CPU_Mapped", "CUDA_Host", "Vulkan0". */
  buffer: string;
  bytes: number;
}

/** One row of the memory breakdown table, in MiB as printed (device rows have total, free and unaccounted). */
export interface BreakdownRow {
  kind: 'device' | 'host' | 'buffer_type';
  /** "CUDA0 (RTX 4090)" in the plain table; "CUDA0" in the JSON one. */
  name: string;
  totalMiB: number | null;
  freeMiB: number | null;
  selfMiB: number;
  modelMiB: number;
  contextMiB: number;
  computeMiB: number;
  unaccountedMiB: number | null;
}

export interface LoadReport {
  /** The real load's buffers, in the order printed. */
  buffers: PrintedBuffer[];
  /** The last memory breakdown table printed after the real load; empty until one is. */
  breakdown: BreakdownRow[];
  /** The real load's compute buffers have been printed. */
  complete: boolean;
}

/** A buffer in host memory (the CPU's, or pinned host memory a GPU backend allocates) rather than on a device. */
export function isHostBuffer(name: string): boolean {
  return /^CPU/i.test(name) || /_Host$/i.test(name);
}

/** The report's parts on devices (not host memory), in bytes; zero where nothing was printed. */
export function deviceParts(report: Pick<LoadReport, 'buffers'>): Record<PrintedPart, number> {
  const out: Record<PrintedPart, number> = { model: 0, kv: 0, rs: 0, compute: 0, output: 0 };
  for (const b of report.buffers) if (!isHostBuffer(b.buffer)) out[b.part] += b.bytes;
  return out;
}

const PARTS: Record<string, PrintedPart> = { model: 'model', KV: 'kv', RS: 'rs', compute: 'compute', output: 'output' };

/** A buffer type's name as ggml prints it: "CUDA0", "CPU_Mapped", "Vulkan_Host", "RPC[10.0.0.2:50052]". */
export const BUFFER_NAME = /^[\w.:[\]-]{1,64}$/;
/** `load_tensors:   CPU_Mapped model buffer size =   292.36 MiB` (and KV, RS, compute, output). */
const BUFFER_LINE = /^[A-Za-z_][\w:]*: +(\S+) +(model|KV|RS|compute|output) buffer size = *([^ ]+) MiB$/;
/** A table line: `common_memory_breakdown_print: | … |`. */
const TABLE_LINE = /^common_memory_breakdown_print: \|(.*)\|$/;
const NUM = String.raw`\s*(-?\d+)\s*`;
const DEVICE_ROW = new RegExp(String.raw`^\s*-\s+(.+?)\s*\|${NUM}=${NUM}\+\s*\(${NUM}=${NUM}\+${NUM}\+${NUM}\)\s*\+${NUM}$`);
const OTHER_ROW = new RegExp(String.raw`^\s*-\s+(.+?)\s*\|${NUM}=${NUM}\+${NUM}\+${NUM}$`);
/** Colours (`--log-colors`), then the timestamp and level letter (`--log-timestamps`, `--log-prefix`) before the message. */
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const PREFIX = /^(?:\d+\.\d+\.\d+\.\d+ )?(?:[IWED] )?/;

function mibFigure(text: string | undefined): number | null {
  if (text === undefined || !/^\d+(?:\.\d+)?$/.test(text)) return null;
  const v = Number(text);
  return Number.isFinite(v) && v >= 0 && v < MAX_MIB ? v : null;
}

function tableFigure(text: string | undefined, signed = false): number | null {
  if (text === undefined) return null;
  const v = Number(text);
  if (!Number.isSafeInteger(v) || Math.abs(v) >= MAX_MIB || (!signed && v < 0)) return null;
  return v;
}

interface Pass {
  buffers: PrintedBuffer[];
  noAlloc: boolean;
  computeSeen: boolean;
}

export interface LoadReportParserOptions {
  /** Called once, when the real load's compute buffers have all been printed. */
  onComplete?: (report: LoadReport) => void;
}

export class LoadReportParser {
  private readonly streams = new Map<string, { decoder: StringDecoder; text: string; skipping: boolean }>();
  private pass: Pass | null = null;
  private real: Pass | null = null;
  private breakdown: BreakdownRow[] = [];
  private table: BreakdownRow[] | null = null;
  /** Lines that looked like part of a report and could not be read. */
  rejected = 0;
  /** When the real load's report completed (ms since the epoch); null until then. */
  completedAt: number | null = null;
  private readonly onComplete: LoadReportParserOptions['onComplete'];

  constructor(options: LoadReportParserOptions = {}) {
    this.onComplete = options.onComplete;
  }

  /** Adds a chunk of one stream's output (streams keep their own unfinished lines). */
  push(chunk: Buffer | string, stream = 'stdout'): void {
    let s = this.streams.get(stream);
    if (!s) {
      s = { decoder: new StringDecoder('utf8'), text: '', skipping: false };
      this.streams.set(stream, s);
    }
    const fresh = typeof chunk === 'string' ? chunk : s.decoder.write(chunk);
    let from = 0;
    while (from < fresh.length) {
      const nl = fresh.indexOf('\n', from);
      const end = nl < 0 ? fresh.length : nl;
      if (!s.skipping) {
        if (s.text.length + (end - from) > MAX_LINE_CHARS) {
          s.skipping = true;
          s.text = '';
          this.rejected++;
        } else s.text += fresh.slice(from, end);
      }
      if (nl < 0) break;
      if (!s.skipping) this.line(s.text);
      s.text = '';
      s.skipping = false;
      from = nl + 1;
    }
  }

  /** The output ended: an unfinished last line is read as it is, and a pass that printed its compute buffers is complete. */
  end(): void {
    for (const s of this.streams.values()) {
      const rest = s.text + s.decoder.end();
      if (!s.skipping && rest) this.line(rest);
      s.text = '';
      s.skipping = false;
    }
    this.closePass();
    this.endTable();
  }

  report(): LoadReport {
    const pass = this.real ?? (this.pass && !this.pass.noAlloc && !allZeroModel(this.pass) ? this.pass : null);
    return { buffers: pass ? [...pass.buffers] : [], breakdown: [...this.breakdown], complete: this.real !== null };
  }

  private line(raw: string): void {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.startsWith('{')) {
      this.jsonLine(text);
      return;
    }
    this.message(text.replace(COLOUR, '').replace(PREFIX, ''));
  }

  private jsonLine(text: string): void {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      if (/buffer size|memory_breakdown/.test(text)) this.rejected++;
      return;
    }
    if (!obj || typeof obj !== 'object') return;
    const o = obj as { type?: unknown; msg?: unknown; data?: unknown };
    if (o.type === 'log' && typeof o.msg === 'string') {
      for (const m of o.msg.split('\n')) if (m) this.message(m);
    } else if (o.type === 'fit_memory_breakdown') this.jsonTable(o.data);
  }

  private message(text: string): void {
    const noAlloc = /^print_info: no_alloc += ([01])$/.exec(text);
    if (noAlloc) {
      // Each load prints its hyperparameters first: a new pass begins.
      this.closePass();
      if (noAlloc[1] === '1') this.pass = { buffers: [], noAlloc: true, computeSeen: false };
      return;
    }
    const b = BUFFER_LINE.exec(text);
    if (b) {
      this.bufferLine(b[1] as string, PARTS[b[2] as string] as PrintedPart, b[3]);
      return;
    }
    if (this.pass?.computeSeen) this.closePass();
    const t = TABLE_LINE.exec(text);
    if (t) this.tableLine(t[1] as string);
    else if (this.table) this.endTable();
  }

  private bufferLine(buffer: string, part: PrintedPart, figure: string | undefined): void {
    const mib = mibFigure(figure);
    if (mib === null || !BUFFER_NAME.test(buffer)) {
      this.rejected++;
      return;
    }
    if (this.pass?.computeSeen && part !== 'compute') this.closePass();
    // A model buffer after the KV cache or compute lines starts the next load.
    if (this.pass && part === 'model' && this.pass.buffers.some((x) => x.part !== 'model')) this.closePass();
    if (!this.pass) this.pass = { buffers: [], noAlloc: false, computeSeen: false };
    if (this.pass.buffers.length >= MAX_BUFFERS) {
      this.rejected++;
      return;
    }
    this.pass.buffers.push({ part, buffer, bytes: Math.round(mib * MiB) });
    if (part === 'compute') this.pass.computeSeen = true;
  }

  /** Ends the pass now open: the first real one with compute buffers becomes the report. */
  private closePass(): void {
    const p = this.pass;
    this.pass = null;
    if (!p || this.real || p.noAlloc || !p.computeSeen || allZeroModel(p)) return;
    this.real = p;
    this.completedAt = Date.now();
    this.breakdown = [];
    this.onComplete?.(this.report());
  }

  private tableLine(body: string): void {
    if (/^\s*memory breakdown \[MiB\]\s*\|/.test(body)) {
      this.endTable();
      this.table = [];
      return;
    }
    if (!this.table) return;
    const d = DEVICE_ROW.exec(body);
    if (d) {
      const n = [2, 3, 4, 5, 6, 7].map((i) => tableFigure(d[i]));
      const unaccounted = tableFigure(d[8], true);
      if (n.every((x) => x !== null) && unaccounted !== null && (d[1] as string).length <= 256) {
        const [total, free, self, model, context, compute] = n as number[];
        this.addRow({
          kind: 'device',
          name: d[1] as string,
          totalMiB: total as number,
          freeMiB: free as number,
          selfMiB: self as number,
          modelMiB: model as number,
          contextMiB: context as number,
          computeMiB: compute as number,
          unaccountedMiB: unaccounted,
        });
        return;
      }
    }
    const o = d ? null : OTHER_ROW.exec(body);
    if (o) {
      const n = [2, 3, 4, 5].map((i) => tableFigure(o[i]));
      if (n.every((x) => x !== null)) {
        const [self, model, context, compute] = n as number[];
        const name = o[1] as string;
        if (name.length > 256) {
          this.rejected++;
          return;
        }
        this.addRow({
          kind: name === 'Host' ? 'host' : 'buffer_type',
          name,
          totalMiB: null,
          freeMiB: null,
          selfMiB: self as number,
          modelMiB: model as number,
          contextMiB: context as number,
          computeMiB: compute as number,
          unaccountedMiB: null,
        });
        return;
      }
    }
    this.rejected++;
  }

  private addRow(row: BreakdownRow): void {
    if (!this.table) return;
    if (this.table.length >= MAX_ROWS) this.rejected++;
    else this.table.push(row);
  }

  /** A table ends at the first line that is not one of its rows; only one printed after the real load is kept. */
  private endTable(): void {
    const t = this.table;
    this.table = null;
    if (t?.length && this.real) this.breakdown = t;
  }

  private jsonTable(data: unknown): void {
    this.endTable();
    const rows = (data as { unit?: unknown; rows?: unknown } | null)?.rows;
    if ((data as { unit?: unknown } | null)?.unit !== 'MiB' || !Array.isArray(rows)) {
      this.rejected++;
      return;
    }
    const out: BreakdownRow[] = [];
    for (const r of rows.slice(0, MAX_ROWS)) {
      const row = jsonRow(r);
      if (row) out.push(row);
      else this.rejected++;
    }
    if (rows.length > MAX_ROWS) this.rejected += rows.length - MAX_ROWS;
    if (out.length && this.real) this.breakdown = out;
  }
}

function allZeroModel(p: Pass): boolean {
  const model = p.buffers.filter((b) => b.part === 'model');
  return model.length > 0 && model.every((b) => b.bytes === 0);
}

function jsonRow(r: unknown): BreakdownRow | null {
  if (!r || typeof r !== 'object') return null;
  const o = r as Record<string, unknown>;
  const kind = o.kind;
  if ((kind !== 'device' && kind !== 'host' && kind !== 'buffer_type') || typeof o.name !== 'string' || o.name.length > 256) return null;
  const num = (k: string, signed = false) => (typeof o[k] === 'number' ? tableFigure(String(o[k]), signed) : null);
  const self = num('self');
  const model = num('model');
  const context = num('context');
  const compute = num('compute');
  if (self === null || model === null || context === null || compute === null) return null;
  const device = kind === 'device';
  const total = device ? num('total') : null;
  const free = device ? num('free') : null;
  const unaccounted = device ? num('unaccounted', true) : null;
  if (device && (total === null || free === null || unaccounted === null)) return null;
  return {
    kind,
    name: o.name,
    totalMiB: total,
    freeMiB: free,
    selfMiB: self,
    modelMiB: model,
    contextMiB: context,
    computeMiB: compute,
    unaccountedMiB: unaccounted,
  };
}
