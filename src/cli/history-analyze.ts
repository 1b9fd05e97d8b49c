/**
 * `vram-guard history analyze [FILE] [--dir DIR] [--gpu N] [--json]`: each GPU's history judged —
 * steady, steps, bursts and leaks with the processes behind them — from a trace, an export, an
 * nvidia-smi CSV log or the dashboard's history folder. Streamed: any size of file in bounded memory.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { errorMessage } from '../core/errors.ts';
import { HistoryFiles, readRecords, type ReadStats } from '../core/history/files.ts';
import { HistoryImportError } from '../core/history/io.ts';
import { DEFAULT_MAX_FILE_MB } from '../core/history/store.ts';
import { analysisJson, TrendAnalyzer, type GpuAnalysis } from '../core/trend/analysis.ts';
import type { Segment } from '../core/trend/change-points.ts';
import { addRecord, readTrendInput, type InputSummary } from '../core/trend/history-input.ts';
import { processLabel, spanText } from '../core/trend/verdict.ts';
import { parseCommand, stringFlag, UsageError } from './args.ts';
import type { CliIo } from './io.ts';
import { historyFolder } from './state-folder.ts';
import { MiB } from '../core/units.ts';

export const HISTORY_ANALYZE_HELP = `vram-guard history analyze [FILE] [--dir DIR] [--gpu N] [--json]

Judges each GPU's used memory over time: steady stretches, steps (a model loaded or unloaded),
bursts (up and back) and leaks (a slope that lasts 15 minutes or more after the last step, with its
rate, its start, the process behind it and when the GPU would be full).

  FILE         a VRAM Guard trace or export (CSV or JSON Lines), or an nvidia-smi CSV log
               (default: the dashboard's history folder)
  --dir DIR    the history folder to read (default: the extension's)
  --gpu N      only GPU N
  --json       {"gpus":[{"gpu","verdict","leak","segments":[{"kind","start","end","deltaMiB","rateMiBPerHour","processes"}]}]}

Exit codes: 0 judged, 1 nothing could be read, 64 wrong usage.`;

export async function runHistoryAnalyze(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(args, { booleans: ['json'], values: ['dir', 'gpu'], help: HISTORY_ANALYZE_HELP, positionals: 1 }, io);
  if (!parsed) return 0;
  const [file] = parsed.positional;
  if (file !== undefined && parsed.flags.has('dir')) throw new UsageError('give a FILE or --dir, not both');
  const gpuText = stringFlag(parsed, 'gpu');
  const gpu = gpuText === undefined ? null : Number(gpuText);
  if (gpu !== null && !(Number.isInteger(gpu) && gpu >= 0)) throw new UsageError(`--gpu must be a GPU index (0, 1, …), not "${gpuText}"`);
  const json = parsed.flags.has('json');
  const analyzer = new TrendAnalyzer();
  let source: string;
  let summary: InputSummary;
  try {
    if (file !== undefined) {
      source = file;
      summary = await readFile(file, analyzer);
    } else {
      source = await historyFolder(stringFlag(parsed, 'dir'), io.env);
      summary = await readFolder(source, analyzer);
    }
  } catch (err) {
    io.stderr(`vram-guard history analyze: ${err instanceof HistoryImportError ? err.message : errorMessage(err)}\n`);
    return 1;
  }
  const gpus = analyzer.gpus().filter((g) => gpu === null || g === gpu);
  if (!gpus.length) {
    io.stderr(`vram-guard history analyze: ${source} has no samples of GPU ${gpu} (it has GPU ${analyzer.gpus().join(', ')})\n`);
    return 1;
  }
  const analyses = gpus.map((g) => analyzer.analyze(g)).filter((a): a is GpuAnalysis => a !== null);
  const notes = [...summary.skipped];
  if (analyzer.backwards && summary.format !== 'trace' && !notes.some((n) => n.includes('earlier than'))) {
    const b = analyzer.firstBackwards;
    notes.push(
      `${analyzer.backwards} sample(s) earlier than the one before them were skipped${b ? ` (first for GPU ${b.gpu} at ${new Date(b.t).toISOString()})` : ''}`,
    );
  }
  for (const a of analyses) {
    const gaps = a.changePoints.gaps;
    const longest = gaps.reduce<(typeof gaps)[number] | null>((m, g) => (!m || g.to - g.from > m.to - m.from ? g : m), null);
    if (!longest) continue;
    const span = `${new Date(longest.from).toISOString()} to ${new Date(longest.to).toISOString()} (${spanText(longest.to - longest.from)})`;
    notes.push(
      gaps.length === 1
        ? `GPU ${a.gpu}: no samples from ${span}: judged across the gap, as if usage held between its ends`
        : `GPU ${a.gpu}: ${gaps.length} gaps without samples, the longest from ${span}: judged across them, as if usage held between their ends`,
    );
  }
  if (json) io.stdout(`${JSON.stringify({ gpus: analyses.map(analysisJson) })}\n`);
  else io.stdout(`${textReport(analyses, source, summary)}${systemReport(analyzer)}`);
  for (const n of notes.slice(0, 25)) io.stderr(`history analyze: ${n}\n`);
  if (notes.length > 25) io.stderr(`history analyze: … ${notes.length - 25} more note(s)\n`);
  return 0;
}

async function readFile(file: string, analyzer: TrendAnalyzer): Promise<InputSummary> {
  try {
    if ((await stat(file)).isDirectory()) throw new HistoryImportError(`${file} is a folder: give it with --dir to read a history folder`);
  } catch (err) {
    if (err instanceof HistoryImportError) throw err;
    throw new HistoryImportError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  return readTrendInput(createReadStream(file, { encoding: 'utf8', highWaterMark: 256 * 1024 }), basename(file), analyzer);
}

/** The history folder's files in time order; a file removed while it is read (rotation, cleanup) is said and skipped. */
async function readFolder(dir: string, analyzer: TrendAnalyzer): Promise<InputSummary> {
  const files = new HistoryFiles({ dir, maxFileBytes: DEFAULT_MAX_FILE_MB * MiB, retentionMs: Number.MAX_SAFE_INTEGER });
  const paths = await files.list();
  if (!paths.length) throw new HistoryImportError(`${dir} holds no history (the dashboard records while VS Code runs; or give a FILE)`);
  const stats: ReadStats = { files: 0, records: 0, tornLines: 0, badLines: 0 };
  const skipped: string[] = [];
  let refused = 0;
  for (const path of paths) {
    try {
      await readRecords(path, (r) => void (addRecord(analyzer, r) && refused++), stats);
      stats.files++;
    } catch (err) {
      skipped.push(
        `${basename(path)} could not be read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}): it was removed or rotated while being read`,
      );
    }
  }
  if (stats.tornLines) skipped.push(`${stats.tornLines} file(s) end in a line still being written: left out`);
  if (stats.badLines) skipped.push(`${stats.badLines} unreadable line(s) skipped`);
  if (!analyzer.gpus().length) throw new HistoryImportError(`${dir}: no samples could be read from ${paths.length} file(s)`);
  return { format: 'jsonl', title: dir, skipped, skippedLines: stats.badLines + stats.tornLines + refused };
}

const pad = (n: number) => String(n).padStart(2, '0');
/** "2026-03-02 09:00" in this machine's time. */
function localTime(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const mib = (v: number) => `${Math.round(v)} MiB`;
const signedMib = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(Math.round(v))} MiB`;

function segmentLine(s: Segment): string {
  const who = s.processes
    .slice(0, 2)
    .map((p) => (s.kind === 'steady' ? `${processLabel(p)} ${mib(p.usedMiB ?? 0)}` : `${processLabel(p)} (PID ${p.pid}) ${signedMib(p.deltaMiB)}`))
    .join(', ');
  const what =
    s.kind === 'steady'
      ? `at ${mib(s.toMiB)} for ${spanText(s.end - s.start)}`
      : s.kind === 'leak'
        ? `${signedMib(s.deltaMiB)} at ${Math.round(s.rateMiBPerHour)} MiB/h for ${spanText(s.end - s.start)}`
        : s.kind === 'burst'
          ? `${signedMib(s.deltaMiB)} for ${spanText(s.end - s.start)}, back to ${mib(s.toMiB)}`
          : `${signedMib(s.deltaMiB)} to ${mib(s.toMiB)}${s.end - s.start > 120_000 ? ` over ${spanText(s.end - s.start)}` : ''}`;
  return `  ${localTime(s.start)}  ${s.kind.padEnd(6)}  ${what}${who ? `  — ${who}` : ''}\n`;
}

function textReport(analyses: GpuAnalysis[], source: string, summary: InputSummary): string {
  let out = '';
  for (const a of analyses) {
    const total = a.totalMiB === null ? '' : ` of ${mib(a.totalMiB)}`;
    out += `GPU ${a.gpu}${total}: ${a.verdict.text}\n`;
    out += `  ${a.samples} samples from ${localTime(a.start)} to ${localTime(a.end)} (${spanText(a.end - a.start)}) in ${source} (${summary.format})\n`;
    for (const s of a.changePoints.segments) out += segmentLine(s);
  }
  return out;
}

/** RAM spills and low RAM, when the history has system memory readings. */
function systemReport(analyzer: TrendAnalyzer): string {
  if (!analyzer.systemEvents.length) return '';
  let out = 'System RAM and swap:\n';
  for (const e of analyzer.systemEvents) out += `  ${localTime(e.start)}  ${e.kind === 'spill' ? 'spill ' : 'low RAM'}  ${e.text}\n`;
  return out;
}
