/**
 * `vram-guard history export|import`: the history the dashboard shows, from a shell. Export writes
 * every record in the history folder as CSV or JSON Lines (the editor's "Export VRAM History…");
 * import reads a VRAM Guard export, an nvidia-smi CSV log or a trace and adds its records to the
 * history folder as a file of their own, so the dashboard shows them (after VS Code reloads).
 */
import { once } from 'node:events';
import { type FileHandle, open, readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { HistoryFiles, readRecords, type ReadStats } from '../core/history/files.ts';
import { exportRecords, HistoryImportError, importHistory, type ExportFormat, type ImportedHistory } from '../core/history/io.ts';
import { encodeRecord } from '../core/history/lines.ts';
import { DAY_MS, DEFAULT_MAX_FILE_MB, DEFAULT_RETENTION_DAYS } from '../core/history/store.ts';
import type { HistoryRecord } from '../core/history/types.ts';
import { STATE_DIR_ENV } from '../core/state-dir.ts';
import { runHistoryAnalyze } from './history-analyze.ts';
import { parseArgs, stringFlag, UsageError, nearest } from './args.ts';
import type { CliIo } from './io.ts';
import { historyFolder } from './state-folder.ts';

/** The largest file an import reads, as in the editor. */
export const MAX_IMPORT_BYTES = 512 * 1024 * 1024;

export const HISTORY_HELP = `vram-guard history export [--format csv|jsonl] [--out FILE] [--dir DIR]
vram-guard history import FILE [--dir DIR] [--retention-days N]
vram-guard history analyze [FILE] [--dir DIR] [--gpu N] [--json]   (see history analyze --help)

The VRAM, RAM and swap history the dashboard shows, kept in the extension's history folder
($${STATE_DIR_ENV}/history in VS Code's terminals; else VS Code's global storage for VRAM Guard).

  --format csv|jsonl              export as CSV (one row per GPU per sample) or JSON Lines (default: from --out, else csv)
  --out FILE                      write the export to FILE (default: standard output)
  --dir DIR                       the history folder to read or add to (default: the extension's)
  --retention-days N              import: leave out records older than this, as the dashboard would (default ${DEFAULT_RETENTION_DAYS})

Import reads a VRAM Guard export (CSV or JSON Lines), an nvidia-smi CSV log
(nvidia-smi --query-gpu=timestamp,index,memory.used,memory.total --format=csv) or a trace,
and adds its records as a file of their own; VS Code shows them after the window reloads.

Exit codes: 0 done, 1 the file could not be read or written, 64 wrong usage.`;

const SUBCOMMANDS = ['export', 'import', 'analyze'];

export async function runHistoryCommand(args: string[], io: CliIo): Promise<number> {
  if (args[0] === 'analyze') return runHistoryAnalyze(args.slice(1), io);
  const parsed = parseArgs(args, { booleans: ['help'], values: ['format', 'out', 'dir', 'retention-days'] });
  const [sub, ...rest] = parsed.positional;
  if (parsed.flags.has('help')) {
    io.stdout(`${HISTORY_HELP}\n`);
    return 0;
  }
  if (!sub) throw new UsageError('say export, import or analyze');
  if (!SUBCOMMANDS.includes(sub)) {
    const near = nearest(sub, SUBCOMMANDS);
    throw new UsageError(`unknown history command "${sub}"${near ? ` (did you mean "${near}"?)` : ''}: export, import or analyze`);
  }
  const dir = await historyFolder(stringFlag(parsed, 'dir'), io.env);
  if (sub === 'export') {
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}" (the file goes after --out)`);
    if (parsed.flags.has('retention-days')) throw new UsageError('--retention-days goes with import');
    const out = stringFlag(parsed, 'out');
    const format = exportFormat(stringFlag(parsed, 'format'), out);
    return exportHistory(dir, format, out, io);
  }
  if (parsed.flags.has('format') || parsed.flags.has('out')) throw new UsageError('--format and --out go with export; import reads the format from the file');
  const [file] = rest;
  if (rest.length !== 1 || file === undefined) throw new UsageError('say which file to import: vram-guard history import FILE');
  const daysText = stringFlag(parsed, 'retention-days');
  const days = daysText === undefined ? DEFAULT_RETENTION_DAYS : Number(daysText);
  if (!(days >= 0.01 && days <= 366)) throw new UsageError(`--retention-days must be a number of days from 0.01 to 366, not "${daysText}"`);
  return importIntoHistory(file, dir, days * DAY_MS, io);
}

function exportFormat(given: string | undefined, out: string | undefined): ExportFormat {
  if (given !== undefined) {
    if (given !== 'csv' && given !== 'jsonl') throw new UsageError(`--format must be csv or jsonl, not "${given}"`);
    return given;
  }
  return out?.toLowerCase().endsWith('.jsonl') ? 'jsonl' : 'csv';
}

async function exportHistory(dir: string, format: ExportFormat, out: string | undefined, io: CliIo): Promise<number> {
  const files = new HistoryFiles({ dir, maxFileBytes: DEFAULT_MAX_FILE_MB * 1024 * 1024, retentionMs: Number.MAX_SAFE_INTEGER });
  const paths = await files.list();
  const stats: ReadStats = { files: 0, records: 0, tornLines: 0, badLines: 0 };
  async function* batches(): AsyncGenerator<HistoryRecord[]> {
    for (const path of paths) {
      const records: HistoryRecord[] = [];
      stats.files++;
      await readRecords(path, (r) => records.push(r), stats);
      yield records;
    }
  }
  let count: number;
  if (out === undefined) {
    count = await exportRecords(batches(), format, 'VRAM Guard history', async (chunk) => {
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
    }).catch((err: unknown) => {
      throw new Error(`could not export ${dir}: ${err instanceof Error ? err.message : String(err)}`);
    });
  } else {
    let handle: FileHandle;
    try {
      handle = await open(out, 'w');
    } catch (err) {
      throw new Error(`could not write ${out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const stream = handle.createWriteStream({ encoding: 'utf8' });
    let streamError: Error | null = null;
    stream.on('error', (err) => (streamError ??= err));
    try {
      count = await exportRecords(batches(), format, 'VRAM Guard history', async (chunk) => {
        if (streamError) throw streamError;
        if (!stream.write(chunk)) await once(stream, 'drain');
      });
    } finally {
      stream.end();
      await once(stream, 'close').catch(() => {});
    }
    if (streamError) throw new Error(`could not write ${out}: ${(streamError as Error).message}`);
  }
  const skipped = stats.tornLines + stats.badLines;
  io.stderr(
    `history: exported ${count} records from ${paths.length} file(s) in ${dir}${out ? ` to ${out}` : ''}${skipped ? ` (skipped ${skipped} unreadable line(s))` : ''}\n`,
  );
  if (!paths.length) io.stderr(`history: ${dir} holds no history yet (the dashboard records while VS Code runs).\n`);
  return 0;
}

async function importIntoHistory(file: string, dir: string, retentionMs: number, io: CliIo): Promise<number> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    io.stderr(`vram-guard history: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return 1;
  }
  if (size > MAX_IMPORT_BYTES) {
    io.stderr(
      `vram-guard history: ${file} is ${Math.round(size / 1048576)} MB, more than the ${MAX_IMPORT_BYTES / 1048576} MB an import may be. Cut it to the incident first.\n`,
    );
    return 1;
  }
  let imported: ImportedHistory;
  try {
    imported = importHistory(await readFile(file, 'utf8'), basename(file));
  } catch (err) {
    io.stderr(`vram-guard history: could not import ${file}: ${err instanceof HistoryImportError ? err.message : String(err)}\n`);
    return 1;
  }
  const cutoff = Date.now() - retentionMs;
  const timeOf = (r: HistoryRecord) => (r.type === 'sample' ? r.sample.t : r.event.t);
  const kept = imported.records.filter((r) => timeOf(r) >= cutoff);
  const tooOld = imported.records.length - kept.length;
  const [oldest] = kept;
  if (oldest === undefined) {
    io.stderr(
      `vram-guard history: all ${imported.records.length} records in ${file} are older than the ${retentionMs / DAY_MS}-day retention, so the dashboard would not show them; nothing was added (a longer --retention-days keeps them, if VS Code's vramGuard.history.retentionDays is as long)\n`,
    );
    return 1;
  }
  {
    // The file is named by its first record's time, so the history's files stay in time order.
    const first = Math.floor(timeOf(oldest));
    let writeError: string | null = null;
    const files = new HistoryFiles({
      dir,
      log: (message) => (writeError ??= message),
      maxFileBytes: DEFAULT_MAX_FILE_MB * 1024 * 1024,
      retentionMs,
      flushMs: 60_000,
      clock: { now: () => first, setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    });
    for (const r of kept) files.append(encodeRecord(r));
    await files.close().catch((err: unknown) => (writeError ??= String(err)));
    if (writeError || !(await files.list()).length) {
      io.stderr(`vram-guard history: could not write into ${dir}${writeError ? `: ${writeError}` : ''}\n`);
      return 1;
    }
  }
  const notes = [
    tooOld ? `${tooOld} older than the ${retentionMs / DAY_MS}-day retention left out` : '',
    imported.skipped.length ? `skipped ${imported.skipped.join('; ')}` : '',
  ].filter(Boolean);
  io.stdout(
    `history: imported ${kept.length} of ${imported.records.length} records (${imported.format}) from ${file} into ${dir}${notes.length ? ` (${notes.join('; ')})` : ''}; VS Code shows them after the window reloads.\n`,
  );
  return 0;
}
