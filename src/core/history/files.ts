/**
 * The history on disk: append-only JSON Lines files (lines.ts) in one folder, named by the
 * time they were started (`history-<ms>.jsonl`). Writes are batched and asynchronous; a file that
 * passes the size limit is closed and a new one started; files entirely older than the retention
 * are deleted. Every start of VS Code writes a new file, so a line torn by a crash is only ever the
 * last line of an older file: reading skips it and loses nothing else.
 */
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { systemClock, type Clock } from '../clock.ts';
import { decodeLine } from './lines.ts';
import type { HistoryRecord } from './types.ts';

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
  clock?: Clock;
  log?: (message: string) => void;
}

export interface ReadStats {
  files: number;
  records: number;
  /** Last lines of files that were cut short (a crash mid-write): skipped. */
  tornLines: number;
  /** Other lines that could not be read: skipped and reported. */
  badLines: number;
}

const FILE_PATTERN = /^history-(\d+)(?:-(\d+))?\.jsonl$/;

interface FileEntry {
  name: string;
  start: number;
  seq: number;
}

export class HistoryFiles {
  private readonly options: HistoryFilesOptions;
  private readonly clock: Clock;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: unknown = null;
  private writing: Promise<void> = Promise.resolve();
  private current: { path: string; bytes: number } | null = null;
  private closed = false;
  private ready: Promise<void> | null = null;

  constructor(options: HistoryFilesOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  setLimits(limits: { maxFileBytes?: number; retentionMs?: number }): void {
    if (limits.maxFileBytes !== undefined) this.options.maxFileBytes = limits.maxFileBytes;
    if (limits.retentionMs !== undefined) this.options.retentionMs = limits.retentionMs;
  }

  /** The history files in time order. */
  async list(): Promise<string[]> {
    return (await this.entries()).map((e) => join(this.options.dir, e.name));
  }

  private async entries(): Promise<FileEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.options.dir);
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

  /** Reads every record on disk, oldest first, skipping torn and unreadable lines. */
  async read(onRecord: (record: HistoryRecord) => void): Promise<ReadStats> {
    const stats: ReadStats = { files: 0, records: 0, tornLines: 0, badLines: 0 };
    for (const path of await this.list()) {
      stats.files++;
      await readRecords(path, onRecord, stats);
    }
    if (stats.badLines) this.options.log?.(`history: skipped ${stats.badLines} unreadable line(s) in ${this.options.dir}`);
    return stats;
  }

  /** Queues one line; it reaches the disk within `flushMs`. */
  append(line: string): void {
    if (this.closed) return;
    this.pending.push(line);
    this.pendingBytes += line.length + 1;
    if (this.pendingBytes >= (this.options.flushBytes ?? 256 * 1024)) void this.flush();
    else if (this.timer === null) this.timer = this.clock.setTimeout(() => void this.flush(), this.options.flushMs ?? 1000);
  }

  /** Writes what is queued; resolves when it is on disk (writes never overlap). */
  flush(): Promise<void> {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.pending.length) return this.writing;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = this.writing.then(() => this.write(text)).catch((err: unknown) => this.options.log?.(`history: could not write: ${String(err)}`));
    return this.writing;
  }

  /** Writes what is queued, deletes files past the retention, and stops accepting lines. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.ready) await this.prune().catch((err: unknown) => this.options.log?.(`history: could not delete old files: ${String(err)}`));
  }

  private async write(text: string): Promise<void> {
    this.ready ??= mkdir(this.options.dir, { recursive: true }).then(() => {});
    await this.ready;
    if (!this.current || this.current.bytes >= this.options.maxFileBytes) await this.startFile();
    const bytes = Buffer.byteLength(text);
    await appendFile(this.current!.path, text);
    this.current!.bytes += bytes;
  }

  private async startFile(): Promise<void> {
    const now = Math.floor(this.clock.now());
    const existing = new Set((await this.entries()).map((e) => e.name));
    let name = `history-${now}.jsonl`;
    for (let seq = 1; existing.has(name); seq++) name = `history-${now}-${seq}.jsonl`;
    this.current = { path: join(this.options.dir, name), bytes: 0 };
    await this.prune();
  }

  /** Deletes files whose data is all older than the retention (the next file started before it). */
  async prune(): Promise<number> {
    const entries = await this.entries();
    const cutoff = this.clock.now() - this.options.retentionMs;
    let removed = 0;
    for (let i = 0; i + 1 < entries.length; i++) {
      const next = entries[i + 1]!;
      const path = join(this.options.dir, entries[i]!.name);
      if (next.start >= cutoff || path === this.current?.path) break;
      await unlink(path).catch(() => {});
      removed++;
    }
    return removed;
  }

  /** Bytes on disk, for the settings view and tests. */
  async diskBytes(): Promise<number> {
    let total = 0;
    for (const path of await this.list()) total += (await stat(path).catch(() => ({ size: 0 }))).size;
    return total;
  }
}

/** Reads one file's records; the last line may be torn (tolerated), other bad lines are counted. */
export async function readRecords(path: string, onRecord: (record: HistoryRecord) => void, stats: ReadStats): Promise<void> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let bad: string | null = null;
  for await (const line of lines) {
    if (bad !== null) {
      stats.badLines++; // the bad line was not the last one
      bad = null;
    }
    if (!line.trim()) continue;
    const record = decodeLine(line);
    if (record) {
      stats.records++;
      onRecord(record);
    } else bad = line;
  }
  if (bad !== null) stats.tornLines++;
}
