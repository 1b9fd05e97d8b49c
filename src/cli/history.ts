/**
 * `vram-guard history export|import`: the history the dashboard shows, from a shell. Export writes
 * every record in the history folder as CSV or JSON Lines (the editor's "Export VRAM History…");
 * import reads a VRAM Guard export, an nvidia-smi CSV log or a trace and adds its records to the
 * history folder as a file of their own, so the dashboard shows them (after VS Code reloads).
 */
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { claimHistoryFile, describeBadLines, describeFsError, HistoryFiles, importTempName, readRecords, type ReadStats } from '../core/history/files.ts';
import { exportRecords, HistoryImportError, type ImportSink, readHistoryStream, type StreamedImport, type ExportFormat } from '../core/history/io.ts';
import { encodeRecord } from '../core/history/lines.ts';
import { DAY_MS, DEFAULT_MAX_FILE_MB, DEFAULT_RETENTION_DAYS, FUTURE_TOLERANCE_MS } from '../core/history/store.ts';
import { NotRegularFileError, openRegularFile } from '../core/regular-file.ts';
import type { HistoryRecord } from '../core/history/types.ts';
import { STATE_DIR_ENV } from '../core/state-dir.ts';
import { runHistoryAnalyze } from './history-analyze.ts';
import { parseCommand, stringFlag, UsageError, nearest } from './args.ts';
import type { CliIo } from './io.ts';
import { historyFolder } from './state-folder.ts';
import { errorMessage } from '../core/errors.ts';
import { MiB } from '../core/units.ts';

/** The largest file an import reads, as in the editor. */
export const MAX_IMPORT_BYTES = 512 * MiB;

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
a chunk at a time, and adds its records as a file of their own; VS Code shows them after the
window reloads. It says how many records it read and kept, and why it left any out: older than
the retention, stamped in the future (judged on this machine's clock), out of time order, or
figures that cannot be true. It never deletes a history file.

Exit codes: 0 done, 1 the file could not be read or written, 64 wrong usage.`;

const SUBCOMMANDS = ['export', 'import', 'analyze'];

export async function runHistoryCommand(args: string[], io: CliIo): Promise<number> {
  if (args[0] === 'analyze') return runHistoryAnalyze(args.slice(1), io);
  // The subcommand and its file are words, checked below.
  const parsed = parseCommand(args, { booleans: [], values: ['format', 'out', 'dir', 'retention-days'], help: HISTORY_HELP, positionals: Infinity }, io);
  if (!parsed) return 0;
  const [sub, ...rest] = parsed.positional;
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
  const files = new HistoryFiles({ dir, maxFileBytes: DEFAULT_MAX_FILE_MB * MiB, retentionMs: Number.MAX_SAFE_INTEGER });
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
      throw new Error(`could not export ${dir}: ${errorMessage(err)}`);
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
    `history: exported ${count} records from ${paths.length} file(s) in ${dir}${out ? ` to ${out}` : ''}${skipped ? ` (skipped ${skipped} unreadable line(s)${stats.badLines ? `: ${describeBadLines(stats)}` : ''})` : ''}\n`,
  );
  if (!paths.length) io.stderr(`history: ${dir} holds no history yet (the dashboard records while VS Code runs).\n`);
  return 0;
}

/**
 * Streams the file into a new history file: read a chunk, write what it held, read on — memory stays
 * bounded whatever the size, and every record read is either written or counted with the reason it was
 * not (older than the retention, stamped in the future, a line that could not be read). The records
 * go to a temporary file first and are renamed into a claimed name at the end, so a failed import
 * adds nothing. The import deletes nothing: old files are the editor's to clean up, on its own clock.
 */
async function importIntoHistory(file: string, dir: string, retentionMs: number, io: CliIo): Promise<number> {
  const fail = (why: string) => {
    io.stderr(`vram-guard history: ${why}\n`);
    return 1;
  };
  let input: FileHandle;
  let size: number;
  try {
    input = await openRegularFile(file);
    size = (await input.stat()).size;
  } catch (err) {
    return fail(`cannot read ${file}: ${err instanceof NotRegularFileError ? err.message : describeFsError(err)}`);
  }
  try {
    if (size > MAX_IMPORT_BYTES) {
      return fail(`${file} is ${Math.round(size / MiB)} MB, more than the ${MAX_IMPORT_BYTES / MiB} MB an import may be. Cut it to the incident first.`);
    }
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      return fail(`could not write into ${dir}: ${describeFsError(err)}`);
    }
    const tmp = join(dir, importTempName(Date.now()));
    let result: { imported: StreamedImport; tally: ImportTally };
    try {
      result = await streamIntoFile(input, basename(file), tmp, retentionMs);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (err instanceof HistoryImportError) return fail(`could not import ${file}: ${err.message}`);
      return fail(`could not write into ${dir}: ${describeFsError(err)}; nothing was added`);
    }
    const { imported, tally } = result;
    const days = retentionMs / DAY_MS;
    if (!tally.kept) {
      await unlink(tmp).catch(() => undefined);
      if (tally.future === imported.records)
        return fail(
          `all ${imported.records} records in ${file} are stamped in the future (the latest ${iso(tally.latestFuture)}, while this machine's clock reads ${iso(tally.now)}), so the dashboard would not show them; nothing was added (check the clock of the machine that wrote the log)`,
        );
      return fail(
        `all ${imported.records} records in ${file} are older than the ${days}-day retention${tally.future ? ` or stamped in the future (${tally.future})` : ''}, so the dashboard would not show them; nothing was added (a longer --retention-days keeps them, if VS Code's vramGuard.history.retentionDays is as long)`,
      );
    }
    let target: string;
    try {
      // Named by its first record's time, so the history's files stay in time order; claimed first,
      // so no other writer (a window, a second import) has the same name.
      target = await claimHistoryFile(dir, Math.floor(tally.first));
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      return fail(`could not write into ${dir}: ${describeFsError(err)}; nothing was added`);
    }
    const notes = [
      tally.tooOld ? `${tally.tooOld} older than the ${days}-day retention left out` : '',
      tally.future
        ? `${tally.future} stamped in the future left out (the latest ${iso(tally.latestFuture)}, while this machine's clock reads ${iso(tally.now)}; the dashboard would not show them)`
        : '',
      imported.skippedLines ? `${imported.skippedLines} line(s) skipped` : '',
      imported.skipped.length ? imported.skipped.join('; ') : '',
    ].filter(Boolean);
    io.stdout(
      `history: imported ${tally.kept} of ${imported.records} records (${imported.format}) from ${file} into ${target}${notes.length ? ` (${notes.join('; ')})` : ''}; VS Code shows them after the window reloads.\n`,
    );
    return 0;
  } finally {
    await input.close().catch(() => undefined);
  }
}

interface ImportTally {
  /** The clock the retention and the future are judged on: this machine's, never the log's. */
  now: number;
  kept: number;
  tooOld: number;
  future: number;
  latestFuture: number;
  /** The earliest time written. */
  first: number;
}

const iso = (t: number) => new Date(t).toISOString();

/** Reads `input` a chunk at a time, writing the records the dashboard would show to `out`. */
async function streamIntoFile(input: FileHandle, name: string, out: string, retentionMs: number): Promise<{ imported: StreamedImport; tally: ImportTally }> {
  const now = Date.now();
  const tally: ImportTally = { now, kept: 0, tooOld: 0, future: 0, latestFuture: -Infinity, first: Infinity };
  const cutoff = now - retentionMs;
  const output = await open(out, 'wx');
  const stream = output.createWriteStream({ encoding: 'utf8' });
  let streamError: Error | null = null;
  stream.on('error', (err) => (streamError ??= err));
  let lines: string[] = [];
  const sink: ImportSink = {
    take: (r) => {
      const t = r.type === 'sample' ? r.sample.t : r.event.t;
      if (t < cutoff) tally.tooOld++;
      else if (t > now + FUTURE_TOLERANCE_MS) {
        tally.future++;
        tally.latestFuture = Math.max(tally.latestFuture, t);
      } else {
        tally.kept++;
        tally.first = Math.min(tally.first, t);
        lines.push(encodeRecord(r));
      }
      return null;
    },
    drain: async (chunkEnd) => {
      if (streamError) throw streamError;
      if (!lines.length || (!chunkEnd && lines.length < 4096)) return;
      const text = `${lines.join('\n')}\n`;
      lines = [];
      // once() also rejects on 'error', so a failed write never leaves this waiting for a drain.
      if (!stream.write(text)) await once(stream, 'drain');
      if (streamError) throw streamError;
    },
  };
  let imported: StreamedImport;
  try {
    imported = await readHistoryStream(input.createReadStream({ encoding: 'utf8', highWaterMark: 256 * 1024, autoClose: false, start: 0 }), name, sink);
  } finally {
    // finished() also settles for a stream a failed write already closed (once('close') would wait forever).
    stream.end();
    await finished(stream).catch(() => undefined);
    await output.close().catch(() => undefined);
  }
  // A write that failed as the file closed (the disk filled with the last chunk) fails the import.
  if (streamError) throw streamError;
  return { imported, tally };
}
