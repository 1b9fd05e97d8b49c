/**
 * What the trend analysis reads, streamed into a TrendAnalyzer in bounded memory: a VRAM Guard
 * trace (read line by line, with its process lists), a VRAM Guard export (CSV or JSON Lines), an
 * nvidia-smi `--query-gpu` CSV log, or the history folder's records. Nothing is held but the
 * analyzer's buckets, so ten million lines take the memory of ten thousand.
 */
import { TraceFormatError, TraceLineReader } from '../gpu/trace-format.ts';
import { DEFAULT_IMPORT_LIMITS, HistoryImportError, ImportParser, type ImportFormat } from '../history/io.ts';
import { LineStream } from '../history/line-stream.ts';
import type { HistoryRecord } from '../history/types.ts';
import { TimeSlicer } from '../time-slicer.ts';
import { MiB } from '../units.ts';
import type { TrendAnalyzer } from './analysis.ts';

export interface InputSummary {
  format: ImportFormat;
  title: string;
  /** Lines skipped and why (at most 20 listed), and notes. */
  skipped: string[];
  skippedLines: number;
}

const MAX_LISTED = 20;

/** Why the analyzer refused a sample: time went backwards for its GPU. */
export function backwardsReason(gpu: number, t: number): string {
  return `time ${new Date(t).toISOString()} is earlier than the sample before it for GPU ${gpu}: skipped (a log must be in time order for each GPU)`;
}

/** Feeds one history record's samples to the analyzer; the reason when one was refused. */
export function addRecord(analyzer: TrendAnalyzer, r: HistoryRecord): string | null {
  if (r.type !== 'sample') return null;
  if (r.sample.system) analyzer.addSystem(r.sample.t, r.sample.system);
  for (const g of r.sample.gpus) {
    if (!analyzer.add(g.gpu, r.sample.t, g.used / MiB, g.total / MiB)) return backwardsReason(g.gpu, r.sample.t);
  }
  return null;
}

/**
 * Reads a file's text as it streams in. Throws HistoryImportError when nothing in it can be read (the
 * wrong kind of file, a trace whose header is broken, a spreadsheet's semicolon CSV).
 */
export async function readTrendInput(
  chunks: AsyncIterable<string | Buffer>,
  name: string,
  analyzer: TrendAnalyzer,
  signal?: AbortSignal,
): Promise<InputSummary> {
  const slicer = new TimeSlicer({ signal, budgetMs: 20 });
  const reader = new LineStream({ maxLineChars: DEFAULT_IMPORT_LIMITS.maxLineChars });
  let mode: 'trace' | 'history' | null = null;
  let trace: TraceLineReader | null = null;
  let traceHeaderRead = false;
  let traceTitle = name;
  let traceSamples = 0;
  const traceSkipped: string[] = [];
  let traceSkippedLines = 0;
  const skipTrace = (why: string) => {
    traceSkippedLines++;
    if (traceSkipped.length < MAX_LISTED) traceSkipped.push(why);
  };
  const parser = new ImportParser(name, { ...DEFAULT_IMPORT_LIMITS, maxChars: Number.POSITIVE_INFINITY }, (r) => addRecord(analyzer, r));
  for await (const batch of reader.lines(chunks)) {
    for (const line of batch) {
      if (mode === null && line.text !== null) {
        const first = line.text.trim();
        if (first === '' || first.startsWith('//')) continue;
        mode = first.startsWith('{') && /"vramGuardTrace"\s*:/.test(first) ? 'trace' : 'history';
        if (mode === 'trace') trace = new TraceLineReader(name);
        else if (first.includes(';') && !first.includes(','))
          throw new HistoryImportError(
            `${name}: the first line is separated by semicolons (${JSON.stringify(first.slice(0, 80))}), as a spreadsheet in a locale with decimal commas saves CSV; VRAM Guard reads comma-separated CSV with decimal points (nvidia-smi's own format): export it with commas, or give the original log.`,
          );
      }
      if (trace) {
        if (line.text === null) {
          skipTrace(`line ${line.lineNo}: ${line.length} characters long, more than the ${DEFAULT_IMPORT_LIMITS.maxLineChars} a line may be: skipped`);
          continue;
        }
        let item: ReturnType<TraceLineReader['line']>;
        try {
          item = trace.line(line.text, line.lineNo);
        } catch (err) {
          if (!(err instanceof TraceFormatError)) throw err;
          if (!traceHeaderRead) throw new HistoryImportError(err.message);
          skipTrace(`line ${err.line}: ${err.message.slice(err.message.indexOf(': ') + 2)}: skipped`);
          continue;
        }
        if (item?.kind === 'header') {
          traceHeaderRead = true;
          traceTitle = item.header.title;
        }
        if (item?.kind !== 'sample' || item.row.error !== null) continue;
        const row = item.row;
        if (analyzer.add(row.gpu, row.time, row.usedMiB, row.totalMiB, row.processes)) traceSamples++;
        else skipTrace(`line ${row.line}: ${backwardsReason(row.gpu, row.time)}`);
      } else if (mode === 'history') {
        if (line.text === null) parser.tooLong(line.lineNo, line.length);
        else parser.line(line.text, line.lineNo);
      }
      if ((line.lineNo & 1023) === 0 && slicer.due()) await slicer.yield();
    }
  }
  if (mode === null) throw new HistoryImportError(`${name} is empty.`);
  if (mode === 'history') return parser.finish();
  if (!traceSamples)
    throw new HistoryImportError(`${name}: no samples could be read${traceSkipped.length ? ` (${traceSkipped.slice(0, 3).join('; ')})` : ''}.`);
  if (traceSkippedLines > traceSkipped.length) traceSkipped.push(`… ${traceSkippedLines - traceSkipped.length} more line(s) skipped`);
  return { format: 'trace', title: traceTitle, skipped: traceSkipped, skippedLines: traceSkippedLines };
}
