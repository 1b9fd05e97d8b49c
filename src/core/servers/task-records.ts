/**
 * The life of each model-server task, shared with `vram-guard ledger` (another process): one small
 * file beside the reservations ($XDG_RUNTIME_DIR/vram-guard/tasks.json) with one record per task of
 * each VS Code window — its server's PID, since when it is ready, its restarts and how it last
 * failed, with its last lines. Changed only under the OS lock of `tasks.json.lock` (file-lock.ts),
 * each window replacing its own records, and written whole (temporary file, then rename), so a
 * reader never sees half a file written by us.
 *
 * Bounded: 64 records of at most 2 KiB each (a name of 128 characters, 5 last lines of 200), the file
 * read up to 256 KiB. Whatever else is there — a torn or oversized file, garbage, a record that is
 * not one — is never trusted: a bad record is left out, a bad file reads as none with a sentence
 * saying why, and the next write replaces it. Records of a window that is gone (its PID not alive)
 * are left out and dropped at the next write.
 */
import { lstat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage } from '../errors.ts';
import { type HeldFileLock, replaceFileUnderLock, withFileLock } from '../file-lock.ts';
import { isAlive } from './process-tree.ts';
import { readBounded } from './recognition/proc-facts.ts';
import { privateFolder } from './runtime-folder.ts';

export interface TaskExit {
  code: number | null;
  signal: string | null;
  /** ms since the epoch. */
  at: number;
  /** The server's last lines before it ended (5 at most). */
  lastLines: string[];
}

export interface TaskRecord {
  /** The task's name. */
  name: string;
  /** Its server kind ("llama-server" ...). */
  kind: string;
  gpu: number;
  /** The extension host that runs it. */
  hostPid: number;
  /** Its server's PID now; null while none runs. */
  pid: number | null;
  /** Its state ("ready", "starting", "exited" ...). */
  state: string;
  /** Since when the running server is ready (ms since the epoch): the uptime. */
  readySince: number | null;
  restarts: number;
  lastExit: TaskExit | null;
}

export const TASKS_FILE = 'tasks.json';
export const MAX_TASK_RECORDS = 64;
export const MAX_TASKS_FILE_BYTES = 256 * 1024;
const MAX_NAME = 128;
const MAX_LINES = 5;
const MAX_LINE_CHARS = 200;

/** tasks.json beside the reservations file. */
export function taskRecordsPath(reservationsFile: string): string {
  return join(dirname(reservationsFile), TASKS_FILE);
}

const whole = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const text = (v: unknown, max: number) => typeof v === 'string' && v.length <= max;

function validExit(e: unknown): e is TaskExit {
  if (e === null) return true;
  const x = e as Record<string, unknown>;
  return (
    !!x &&
    typeof x === 'object' &&
    (x.code === null || Number.isSafeInteger(x.code)) &&
    (x.signal === null || text(x.signal, 16)) &&
    whole(x.at) &&
    Array.isArray(x.lastLines) &&
    x.lastLines.length <= MAX_LINES &&
    x.lastLines.every((l) => text(l, MAX_LINE_CHARS + 1))
  );
}

/** Whether a value read from the file is a record (a foreign or damaged one is not). */
export function validTaskRecord(x: unknown): x is TaskRecord {
  const r = x as Record<string, unknown>;
  return (
    !!r &&
    typeof r === 'object' &&
    text(r.name, MAX_NAME) &&
    text(r.kind, 32) &&
    whole(r.gpu) &&
    whole(r.hostPid) &&
    (r.pid === null || whole(r.pid)) &&
    text(r.state, 16) &&
    (r.readySince === null || whole(r.readySince)) &&
    whole(r.restarts) &&
    validExit(r.lastExit)
  );
}

/** A record cut to the file's bounds: the name, and the last lines (each line, and how many). */
export function boundedRecord(r: TaskRecord): TaskRecord {
  const cut = (l: string) => (l.length > MAX_LINE_CHARS ? `${l.slice(0, MAX_LINE_CHARS - 1)}…` : l);
  return {
    ...r,
    name: r.name.slice(0, MAX_NAME),
    lastExit: r.lastExit ? { ...r.lastExit, lastLines: r.lastExit.lastLines.slice(-MAX_LINES).map(cut) } : null,
  };
}

export interface TaskRecordsRead {
  records: TaskRecord[];
  /** Why the file was not read (torn, oversized, not ours); null when it was, or is absent. */
  problem: string | null;
}

export interface TaskRecordBookOptions {
  alive?: (pid: number) => boolean;
  lockWaitMs?: number;
}

export class TaskRecordBook {
  readonly path: string;
  private readonly alive: (pid: number) => boolean;
  private readonly lockWaitMs: number | undefined;

  constructor(path: string, options: TaskRecordBookOptions = {}) {
    this.path = path;
    this.alive = options.alive ?? isAlive;
    this.lockWaitMs = options.lockWaitMs;
  }

  /** The records of windows still open. Never throws for the file's content; says why it was not read. */
  async read(): Promise<TaskRecordsRead> {
    let raw: string;
    try {
      if (!(await privateFolder(dirname(this.path), false, 'task records'))) return { records: [], problem: null };
      const st = await lstat(this.path);
      if (!st.isFile()) return { records: [], problem: `${this.path} is not a regular file: task records are not read from it` };
      raw = await readBounded(this.path, MAX_TASKS_FILE_BYTES + 1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], problem: null };
      return { records: [], problem: `${this.path} could not be read: ${errorMessage(err)}` };
    }
    if (raw.length > MAX_TASKS_FILE_BYTES)
      return { records: [], problem: `${this.path} is larger than ${MAX_TASKS_FILE_BYTES / 1024} KiB, more than task records take: it is not read` };
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch (err) {
      return { records: [], problem: `${this.path} is not JSON (${errorMessage(err)}): no task records read; the next change replaces it` };
    }
    const list = (data as { version?: unknown; tasks?: unknown })?.version === 1 ? (data as { tasks?: unknown }).tasks : null;
    if (!Array.isArray(list)) return { records: [], problem: `${this.path} is not a version-1 list of task records: it is not read` };
    const records = list.slice(0, MAX_TASK_RECORDS).filter(validTaskRecord);
    const bad = Math.min(list.length, MAX_TASK_RECORDS) - records.length;
    return {
      records: records.filter((r) => this.alive(r.hostPid)),
      problem: bad ? `${this.path}: ${bad} record${bad === 1 ? ' is' : 's are'} not task records and ${bad === 1 ? 'was' : 'were'} left out` : null,
    };
  }

  /** Replaces the records of the window `hostPid` with `records` (none: removes them), under the lock. */
  async replaceHost(hostPid: number, records: readonly TaskRecord[]): Promise<void> {
    await privateFolder(dirname(this.path), true, 'task records');
    await withFileLock(
      `${this.path}.lock`,
      async (lock) => {
        const { records: now } = await this.read();
        const others = now.filter((r) => r.hostPid !== hostPid);
        const mine = records.map(boundedRecord).slice(0, Math.max(0, MAX_TASK_RECORDS - others.length));
        await this.write([...others, ...mine], lock);
      },
      { waitMs: this.lockWaitMs, name: 'task records' },
    );
  }

  private async write(tasks: TaskRecord[], lock: HeldFileLock): Promise<void> {
    await replaceFileUnderLock(lock, this.path, JSON.stringify({ version: 1, tasks }));
  }
}
