/**
 * Footprints measured once a server started from a task had settled: what NVML counted for its
 * process tree, keyed by the model file's identity (size, mtime, a hash of its first bytes — the
 * GGUF header) and the settings that change memory. The next gate or pre-flight with the same key
 * uses the measurement, with the estimate beside it; a changed file or setting has another key and
 * falls back to the estimate. Beside NVML's figure an entry may keep what llama.cpp printed about the
 * same load, part by part (printed-footprint.ts).
 *
 * One JSON file in the state folder, shared by the extension and the CLI (and every window): bounded
 * in entries and bytes, validated on read, changed only under the OS lock of
 * `measured-footprints.json.lock` (file-lock.ts) so two processes recording at once keep both
 * measurements, and written atomically (temporary file, then rename). A file that is not ours is
 * set aside (renamed, never deleted) with a log line, and the estimate is used.
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, readFile, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type HeldFileLock, replaceFileUnderLock, withFileLock } from '../file-lock.ts';
import type { LlamaSettings } from './llama-settings.ts';
import { openRegularFile } from '../regular-file.ts';
import { type PrintedFootprint, validPrintedFootprint } from './printed-footprint.ts';

export const FOOTPRINTS_FILE = 'measured-footprints.json';
/** Entries kept (the oldest measurements go first) and the largest file read. */
export const MAX_FOOTPRINTS = 200;
export const MAX_FOOTPRINTS_FILE_BYTES = 512 * 1024;
/** How much of the model file's start is hashed: the GGUF header's metadata lives there. */
export const IDENTITY_HEAD_BYTES = 256 * 1024;

export interface ModelIdentity {
  sizeBytes: number;
  mtimeMs: number;
  headSha256: string;
}

export async function modelIdentity(path: string): Promise<ModelIdentity | null> {
  try {
    // Only a regular file: opening a FIFO would wait for a writer forever (and the gate with it).
    const fh = await openRegularFile(path);
    try {
      const st = await fh.stat();
      const buf = Buffer.alloc(Math.min(IDENTITY_HEAD_BYTES, st.size));
      await fh.read(buf, 0, buf.length, 0);
      return { sizeBytes: st.size, mtimeMs: Math.round(st.mtimeMs), headSha256: createHash('sha256').update(buf).digest('hex') };
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/** Object keys in a fixed order, so that equal settings give equal text. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  return value;
}

/** Settings the key gained later (multi-token prediction, the split over several GPUs, op offload), each with the value that leaves it out. */
const LATER_SETTINGS: ReadonlyArray<[keyof LlamaSettings, unknown]> = [
  ['mtp', null],
  ['tensorSplit', null],
  ['splitMode', null],
  ['opOffload', true],
];

/** The key of a model file and the settings it runs with (plus the projector's and draft's identities). */
export function footprintKey(model: ModelIdentity, settings: LlamaSettings, others: readonly (ModelIdentity | null)[] = []): string {
  // Settings added after keys were first stored leave a key unchanged at their default, so measurements kept before still match.
  const kept: Record<string, unknown> = { ...settings };
  for (const [k, unset] of LATER_SETTINGS) if (kept[k] === unset) delete kept[k];
  return createHash('sha256')
    .update(JSON.stringify(canonical({ model, settings: kept, others })))
    .digest('hex');
}

export interface MeasuredFootprint {
  key: string;
  modelPath: string;
  /** NVML's figure for the server's process tree once it had settled; null when only llama.cpp's report was read. */
  measuredBytes: number | null;
  /** The estimate the gate used, for "estimate was …". */
  estimateBytes: number | null;
  /** ISO time of the measurement. */
  measuredAt: string;
  /** The settings, as the flags that set them ("-c 8192 -fa on"). */
  settings: string;
  /** What llama.cpp printed about the same load (a task with `"loadReport": true`); absent when it printed nothing. */
  printed?: PrintedFootprint | null;
}

function validEntry(x: unknown): x is MeasuredFootprint {
  const e = x as Record<string, unknown>;
  return (
    !!e &&
    typeof e === 'object' &&
    typeof e.key === 'string' &&
    /^[0-9a-f]{64}$/.test(e.key) &&
    typeof e.modelPath === 'string' &&
    (e.modelPath as string).length <= 4096 &&
    ((Number.isSafeInteger(e.measuredBytes) && (e.measuredBytes as number) > 0) || (e.measuredBytes === null && !!e.printed)) &&
    (e.printed === undefined || e.printed === null || validPrintedFootprint(e.printed)) &&
    (e.estimateBytes === null || Number.isSafeInteger(e.estimateBytes)) &&
    typeof e.measuredAt === 'string' &&
    !Number.isNaN(Date.parse(e.measuredAt as string)) &&
    typeof e.settings === 'string' &&
    (e.settings as string).length <= 4096
  );
}

export class FootprintStore {
  readonly path: string;
  private readonly log: (message: string) => void;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string, log: (message: string) => void = () => {}) {
    this.path = join(stateDir, FOOTPRINTS_FILE);
    this.log = log;
  }

  /** Every valid entry; an unreadable or foreign file is set aside with a log line and reads as empty. */
  entries(): Promise<MeasuredFootprint[]> {
    return this.read(null);
  }

  /** `lock`: held by the caller (a change), else taken to set a bad file aside. */
  private async read(lock: HeldFileLock | null): Promise<MeasuredFootprint[]> {
    let text: string;
    let st: Stats;
    try {
      st = await stat(this.path);
      if (st.size > MAX_FOOTPRINTS_FILE_BYTES)
        return await this.setAside(`it is ${st.size} bytes, more than the ${MAX_FOOTPRINTS_FILE_BYTES} this file may hold`, st, lock);
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      this.log(`measured footprints: ${this.path} cannot be read (${(err as Error).message}); using estimates.`);
      return [];
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return this.setAside(`it is not JSON (${(err as Error).message})`, st, lock);
    }
    const list = (data as { version?: unknown; footprints?: unknown })?.footprints;
    if ((data as { version?: unknown })?.version !== 1 || !Array.isArray(list)) return this.setAside('it is not a version-1 list of footprints', st, lock);
    const valid = list.filter(validEntry).slice(-MAX_FOOTPRINTS);
    if (valid.length < list.length)
      this.log(`measured footprints: ${list.length - valid.length} malformed entr${list.length - valid.length === 1 ? 'y' : 'ies'} in ${this.path} ignored.`);
    return valid;
  }

  /**
   * Renames the bad file aside, under the lock and only if it is still the file that was read: a
   * reader must not set aside a good file another process wrote meanwhile.
   */
  private async setAside(why: string, seen: Stats, lock: HeldFileLock | null): Promise<MeasuredFootprint[]> {
    const aside = `${this.path}.corrupt-${Date.now()}`;
    const move = async () => {
      const now = await stat(this.path);
      if (now.ino !== seen.ino || now.size !== seen.size || now.mtimeMs !== seen.mtimeMs) return false;
      await rename(this.path, aside);
      return true;
    };
    try {
      if (await (lock ? move() : withFileLock(this.lockPath, move, { name: 'measured footprints' })))
        this.log(`measured footprints: ${this.path} was set aside as ${aside} because ${why}; estimates are used until servers are measured again.`);
    } catch (err) {
      this.log(`measured footprints: ${this.path} is ignored because ${why} (${(err as Error).message}); estimates are used.`);
    }
    return [];
  }

  private get lockPath(): string {
    return `${this.path}.lock`;
  }

  async get(key: string): Promise<MeasuredFootprint | null> {
    await this.queue.catch(() => {});
    return (await this.entries()).find((e) => e.key === key) ?? null;
  }

  /**
   * Adds or replaces the entry for its key; keeps the newest MAX_FOOTPRINTS. A measurement without
   * NVML's figure keeps the one recorded before, and one without a printed report (or without its
   * memory breakdown table) keeps what was recorded before: both describe the same file and settings.
   */
  record(entry: MeasuredFootprint): Promise<void> {
    const run = this.queue
      .catch(() => {})
      .then(async () => {
        await mkdir(dirname(this.path), { recursive: true });
        await withFileLock(
          this.lockPath,
          async (lock) => {
            const read = await this.read(lock);
            const kept = read.filter((e) => e.key !== entry.key);
            kept.push(merged(entry, read.find((e) => e.key === entry.key) ?? null));
            const body = JSON.stringify({ version: 1, footprints: kept.slice(-MAX_FOOTPRINTS) }, null, 1);
            await replaceFileUnderLock(lock, this.path, body);
          },
          { name: 'measured footprints' },
        );
      });
    this.queue = run;
    return run;
  }
}

function merged(entry: MeasuredFootprint, before: MeasuredFootprint | null): MeasuredFootprint {
  if (!before) return entry;
  const nvml = entry.measuredBytes === null && before.measuredBytes !== null ? { measuredBytes: before.measuredBytes, measuredAt: before.measuredAt } : {};
  let printed = !entry.printed && before.printed ? { printed: before.printed } : {};
  // The breakdown table comes only as a server stops: a report read at ready keeps the one an earlier stop printed.
  if (entry.printed && !entry.printed.breakdown && before.printed?.breakdown) printed = { printed: { ...entry.printed, breakdown: before.printed.breakdown } };
  return { ...entry, ...nvml, ...printed };
}
