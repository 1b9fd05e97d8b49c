/**
 * The history on disk: append-only JSON Lines files (lines.ts) in one folder, named by the
 * time they were started (`history-<ms>.jsonl`). Writes are batched and asynchronous; a file that
 * passes the size limit is closed and a new one started; files entirely older than the retention
 * are deleted. Every start of VS Code writes a new file, so a line torn by a crash is only ever the
 * last line of an older file: reading skips it and loses nothing else.
 *
 * Two windows share the folder, each writing its own files: a new file is claimed by an exclusive
 * create, so two writers never share one, and a file is deleted only when its own last record is
 * older than the retention — never because of when another file started (another window's file can
 * be live for days while this one starts new ones). No lock is needed: no file has two writers, and
 * deleting only files whose newest record is past the retention cannot remove a live one.
 *
 * Nothing is lost when the disk is full or the folder cannot be written: lines wait in memory (up to
 * `maxPendingBytes`, oldest dropped first beyond that, and said), the write is retried with back-off
 * (a failed folder creation too), one warning says where and why, and once the disk takes them again
 * every waiting line is written. A folder or unreadable entry where a history file should be is
 * skipped with a message; the rest loads.
 */
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, readdir, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../clock.ts';
import { readLine } from './lines.ts';
import type { HistoryRecord } from './types.ts';
import { LineStream } from './line-stream.ts';
import { errorMessage } from '../errors.ts';
import { MiB } from '../units.ts';

/** The file operations the history uses (tests inject failures: a full disk, a read-only folder). */
export interface HistoryFs {
  mkdir(path: string): Promise<unknown>;
  appendFile(path: string, text: string): Promise<void>;
  /** Cuts a file back to `bytes` (undoes a partial append). */
  truncate(path: string, bytes: number): Promise<void>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<{ size: number; isFile(): boolean }>;
  unlink(path: string): Promise<void>;
  read(path: string): AsyncIterable<string | Buffer>;
  /** Creates an empty file, failing with EEXIST when the name is taken (another window claimed it). */
  createNew(path: string): Promise<void>;
  /** The last `bytes` of a file (fewer when it is shorter), as text. */
  tail(path: string, bytes: number): Promise<string>;
}

export const nodeHistoryFs: HistoryFs = {
  mkdir: (path) => mkdir(path, { recursive: true }),
  appendFile: (path, text) => appendFile(path, text),
  truncate: (path, bytes) => truncate(path, bytes),
  readdir: (path) => readdir(path),
  stat: (path) => stat(path),
  unlink: (path) => unlink(path),
  read: (path) => createReadStream(path, { encoding: 'utf8' }),
  createNew: (path) => writeFile(path, '', { flag: 'wx' }),
  tail: async (path, bytes) => {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const buf = Buffer.alloc(Math.min(bytes, size));
      const { bytesRead } = await fh.read(buf, 0, buf.length, size - buf.length);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  },
};

export interface HistoryFilesOptions {
  dir: string;
  /** A file passing this size is closed and a new one started. */
  maxFileBytes: number;
  /** Files whose every record is older than this are deleted. */
  retentionMs: number;
  /** How long appended lines may wait before they are written (default 1000 ms). */
  flushMs?: number;
  /** Pending bytes that trigger a write at once (default 256 KiB). */
  flushBytes?: number;
  /** Lines kept in memory while the disk cannot take them (default 32 MiB; the oldest go first beyond it). */
  maxPendingBytes?: number;
  clock?: Clock;
  log?: (message: string) => void;
  fs?: HistoryFs;
}

export interface ReadStats {
  files: number;
  records: number;
  /** Last lines of files that were cut short (a crash mid-write): skipped. */
  tornLines: number;
  /** Other lines that could not be read: skipped and reported. */
  badLines: number;
  /** The bad lines by why they were skipped ("not JSON", "GPU memory used above its total", …). */
  badWhy?: Record<string, number>;
  /** Entries named like history files that are not readable files (a folder, no permission): skipped. */
  skippedFiles?: number;
  /** Records stamped later than the clock allows: skipped (see HistoryStore). */
  futureRecords?: number;
}

/** History lines are about 100 characters; a longer one than this is not ours (a corrupt file). */
export const MAX_HISTORY_LINE_CHARS = 64 * 1024;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

const FILE_PATTERN = /^history-(\d+)(?:-(\d+))?\.jsonl$/;

/**
 * `vram-guard history import` writes into a temporary file of this name and renames it into place
 * when it is done; one left behind by an import that was killed is deleted a day later.
 */
export const importTempName = (startMs: number): string => `.import-${process.pid}-${Math.floor(startMs)}.tmp`;
const IMPORT_TEMP_PATTERN = /^\.import-\d+-(\d+)\.tmp$/;
const IMPORT_TEMP_KEPT_MS = 24 * 3_600_000;

interface FileEntry {
  name: string;
  start: number;
  seq: number;
}

export class HistoryFiles {
  private readonly options: HistoryFilesOptions;
  private readonly clock: Clock;
  private readonly fs: HistoryFs;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: unknown = null;
  private writing: Promise<void> = Promise.resolve();
  private current: { path: string; bytes: number } | null = null;
  private closed = false;
  private ready: Promise<void> | null = null;
  /** While writes fail: the next retry's delay, and whether the warning was given. */
  private failure: { delayMs: number; warned: boolean; dropped: number; since: number } | null = null;
  private retryTimer: unknown = null;

  constructor(options: HistoryFilesOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.fs = options.fs ?? nodeHistoryFs;
  }

  setLimits(limits: { maxFileBytes?: number; retentionMs?: number }): void {
    if (limits.maxFileBytes !== undefined) this.options.maxFileBytes = limits.maxFileBytes;
    if (limits.retentionMs !== undefined) this.options.retentionMs = limits.retentionMs;
  }

  /** Lines waiting to be written (in memory), e.g. while the disk is full. */
  get waiting(): number {
    return this.pending.length;
  }

  /** The history files in time order. */
  async list(): Promise<string[]> {
    return (await this.entries()).map((e) => join(this.options.dir, e.name));
  }

  private async entries(): Promise<FileEntry[]> {
    let names: string[];
    try {
      names = await this.fs.readdir(this.options.dir);
    } catch {
      return [];
    }
    const out: FileEntry[] = [];
    for (const name of names) {
      const m = FILE_PATTERN.exec(name);
      if (m) out.push({ name, start: Number(m[1]), seq: Number(m[2] ?? 0) });
    }
    return out.sort((a, b) => a.start - b.start || a.seq - b.seq);
  }

  /** Reads every record on disk, oldest first, skipping torn and unreadable lines and entries that are not files. */
  async read(onRecord: (record: HistoryRecord, fileIndex: number) => void): Promise<ReadStats> {
    const stats: ReadStats = { files: 0, records: 0, tornLines: 0, badLines: 0, skippedFiles: 0 };
    for (const [fileIndex, path] of (await this.list()).entries()) {
      let problem: string | null = null;
      try {
        const st = await this.fs.stat(path);
        if (!st.isFile()) problem = 'it is a folder or other non-file where a history file is expected';
        else await readRecords(path, (r) => onRecord(r, fileIndex), stats, this.fs);
      } catch (err) {
        problem = `it cannot be read (${describeFsError(err)})`;
      }
      if (problem) {
        stats.skippedFiles = (stats.skippedFiles ?? 0) + 1;
        this.options.log?.(`history: skipped ${path}: ${problem}. The rest of the history loads; move it away to silence this message.`);
      } else stats.files++;
    }
    if (stats.badLines) this.options.log?.(`history: skipped ${stats.badLines} unreadable line(s) in ${this.options.dir}: ${describeBadLines(stats)}`);
    return stats;
  }

  /** Queues one line; it reaches the disk within `flushMs` (or, while the disk fails, when it recovers). */
  append(line: string): void {
    if (this.closed) return;
    this.pending.push(line);
    this.pendingBytes += line.length + 1;
    this.bound();
    if (this.failure) return; // the retry timer writes them
    if (this.pendingBytes >= (this.options.flushBytes ?? 256 * 1024)) void this.flush();
    else if (this.timer === null) this.timer = this.clock.setTimeout(() => void this.flush(), this.options.flushMs ?? 1000);
  }

  /** Keeps the waiting lines under the memory bound: the oldest go first, counted. */
  private bound(): void {
    const max = this.options.maxPendingBytes ?? 32 * MiB;
    if (this.pendingBytes <= max) return;
    let drop = 0;
    let freed = 0;
    for (const line of this.pending) {
      if (this.pendingBytes - freed <= max) break;
      freed += line.length + 1;
      drop++;
    }
    this.pending.splice(0, drop);
    this.pendingBytes -= freed;
    if (this.failure) {
      if (!this.failure.dropped)
        this.options.log?.(
          `history: the disk has not taken the history for a while and the ${Math.round(max / MiB)} MiB kept in memory are full: the oldest unwritten samples are being dropped.`,
        );
      this.failure.dropped += drop;
    }
  }

  /** Writes what is queued; resolves when it is on disk or has failed (writes never overlap). */
  flush(): Promise<void> {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    this.writing = this.writing.then(() => this.writePending());
    return this.writing;
  }

  private async writePending(): Promise<void> {
    if (!this.pending.length) return;
    const lines = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      await this.write(`${lines.join('\n')}\n`);
    } catch (err) {
      // Back in front of anything queued meanwhile, in order; retried with back-off.
      this.pending = lines.concat(this.pending);
      this.pendingBytes += bytes;
      this.bound();
      this.failed(err);
      return;
    }
    if (this.failure) {
      const f = this.failure;
      this.failure = null;
      this.options.log?.(
        `history: writing to ${this.options.dir} works again; the ${lines.length} line(s) that waited are on disk${f.dropped ? ` (${f.dropped} older line(s) did not fit in memory and were lost)` : ''}.`,
      );
    }
  }

  private failed(err: unknown): void {
    const first = !this.failure;
    this.failure ??= { delayMs: RETRY_FIRST_MS, warned: false, dropped: 0, since: this.clock.now() };
    const f = this.failure;
    if (!f.warned) {
      f.warned = true;
      this.options.log?.(
        `history: cannot write to ${this.options.dir}: ${describeFsError(err)}. The samples stay in memory (up to ${Math.round((this.options.maxPendingBytes ?? 32 * MiB) / MiB)} MiB) and writing is retried; they reach the disk once it can be written again.`,
      );
    } else if (!first) f.delayMs = Math.min(RETRY_MAX_MS, f.delayMs * 2);
    if (this.closed) return;
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      void this.flush();
    }, f.delayMs);
  }

  /** Writes what is queued, deletes files past the retention, and stops accepting lines. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.pending.length) this.options.log?.(`history: ${this.pending.length} line(s) could not be written to ${this.options.dir} before closing.`);
    if (this.ready) await this.prune().catch((err: unknown) => this.options.log?.(`history: could not delete old files: ${String(err)}`));
  }

  private async write(text: string): Promise<void> {
    // A failed folder creation is tried again on the next write, never remembered.
    this.ready ??= this.fs.mkdir(this.options.dir).then(
      () => {},
      (err: unknown) => {
        this.ready = null;
        throw err;
      },
    );
    await this.ready;
    const current = this.current && this.current.bytes < this.options.maxFileBytes ? this.current : await this.startFile();
    try {
      await this.fs.appendFile(current.path, text);
    } catch (err) {
      // Part of the text may be on disk: cut it off, or start a new file if that fails too, so a
      // retry never leaves a torn line in the middle of a file.
      await this.fs.truncate(current.path, current.bytes).catch(() => {
        this.current = null;
      });
      throw err;
    }
    current.bytes += Buffer.byteLength(text);
  }

  private async startFile(): Promise<{ path: string; bytes: number }> {
    const now = Math.floor(this.clock.now());
    const path = await claimHistoryFile(this.options.dir, now, this.fs);
    const current = { path, bytes: 0 };
    this.current = current;
    await this.prune();
    return current;
  }

  /**
   * Deletes files whose newest record is older than the retention, on this store's own clock. A
   * file with no readable record is judged by the time in its name (one just claimed is kept).
   */
  async prune(): Promise<number> {
    const cutoff = this.clock.now() - this.options.retentionMs;
    let removed = 0;
    for (const entry of await this.entries()) {
      const path = join(this.options.dir, entry.name);
      if (path === this.current?.path || entry.start >= cutoff) continue;
      const newest = await newestRecordTime(path, this.fs).catch(() => null);
      if ((newest ?? entry.start) >= cutoff) continue;
      await this.fs.unlink(path).catch(() => {});
      removed++;
    }
    const names = await this.fs.readdir(this.options.dir).catch(() => [] as string[]);
    for (const name of names) {
      const m = IMPORT_TEMP_PATTERN.exec(name);
      if (m && Number(m[1]) < this.clock.now() - IMPORT_TEMP_KEPT_MS) await this.fs.unlink(join(this.options.dir, name)).catch(() => {});
    }
    return removed;
  }

  /** Bytes on disk, for the settings view and tests. */
  async diskBytes(): Promise<number> {
    let total = 0;
    for (const path of await this.list()) total += (await this.fs.stat(path).catch(() => ({ size: 0 }))).size;
    return total;
  }
}

/**
 * A new history file's path in `dir`, named by `startMs` (with a sequence number when taken), created
 * empty with an exclusive create so that no other writer — another window, an import — shares it.
 */
export async function claimHistoryFile(dir: string, startMs: number, fs: HistoryFs = nodeHistoryFs): Promise<string> {
  for (let seq = 0; ; seq++) {
    const path = join(dir, seq ? `history-${startMs}-${seq}.jsonl` : `history-${startMs}.jsonl`);
    try {
      await fs.createNew(path);
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || seq >= 10_000) throw err;
    }
  }
}

/** The time of a file's newest record, read from its last lines; null when none there is readable. */
async function newestRecordTime(path: string, fs: HistoryFs): Promise<number | null> {
  const lines = (await fs.tail(path, 64 * 1024)).split('\n');
  let newest: number | null = null;
  // The first piece may be the end of a line cut by the tail: it does not parse, and is passed over.
  for (const line of lines) {
    const r = line.trim() ? readLine(line) : null;
    if (r !== null && typeof r !== 'string') newest = Math.max(newest ?? -Infinity, r.type === 'sample' ? r.sample.t : r.event.t);
  }
  return newest;
}

/** "2 GPU memory used above its total, 1 not JSON": the bad lines by why. */
export function describeBadLines(stats: ReadStats): string {
  return Object.entries(stats.badWhy ?? {})
    .map(([why, n]) => `${n} ${why}`)
    .join(', ');
}

/**
 * Reads one file's records; a last line that is not JSON may be torn by a crash (tolerated), other
 * bad lines — and records whose figures cannot be true — are counted by why.
 */
export async function readRecords(path: string, onRecord: (record: HistoryRecord) => void, stats: ReadStats, fs: HistoryFs = nodeHistoryFs): Promise<void> {
  const reader = new LineStream({ maxLineChars: MAX_HISTORY_LINE_CHARS });
  const countBad = (why: string) => {
    stats.badLines++;
    stats.badWhy ??= {};
    stats.badWhy[why] = (stats.badWhy[why] ?? 0) + 1;
  };
  let unparsed: string | null = null;
  for await (const batch of reader.lines(fs.read(path))) {
    for (const line of batch) {
      if (unparsed) countBad(unparsed); // the unparsed line was not the last one
      unparsed = null;
      if (line.text === null) {
        unparsed = `a line over ${MAX_HISTORY_LINE_CHARS} characters`;
        continue;
      }
      if (!line.text.trim()) continue;
      const record = readLine(line.text);
      if (typeof record !== 'string') {
        stats.records++;
        onRecord(record);
      } else if (record === 'not JSON') unparsed = record;
      else countBad(record);
    }
  }
  if (unparsed) stats.tornLines++;
}

/** "ENOSPC (the disk is full)", with the system's own words for the others. */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const why: Record<string, string> = {
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is used up',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'the file system is read-only',
    EISDIR: 'a folder is in the way',
    ENOTDIR: 'a file is in the way of a folder',
  };
  const message = errorMessage(err);
  return code && why[code] ? `${code} (${why[code]})` : message;
}
