/**
 * VRAM reserved by servers that passed the gate but whose memory NVML does not show yet. Two
 * servers started at once must not both pass on the same free memory: a gate that passes writes
 * its need here, and the next gate (in any VS Code window, or the CLI) counts it as taken.
 *
 * One small JSON file per user in the runtime folder (runtime-folder.ts: $XDG_RUNTIME_DIR/vram-guard,
 * else the OS temp folder with the uid in the name, used only when it is this user's own). Each
 * entry names the process that reserved it and, once started, the server's PID; an entry whose
 * process is gone, or whose time is up, is dropped when read. Every change is a read-modify-write
 * under the OS lock of `reservations.json.lock` (file-lock.ts), which the kernel drops when its
 * holder dies and which no one breaks: a waiter gives up after `lockWaitMs` saying who holds it.
 * The file itself is replaced atomically (a temporary file beside it, then rename), and only
 * while the lock is verified to be still ours. A change that would hold more than MAX_ENTRIES is
 * refused with an error, never made by dropping the oldest.
 */
import { lstat, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Clock } from '../clock.ts';
import { type HeldFileLock, replaceFileUnderLock, withFileLock } from '../file-lock.ts';
import { isAlive } from './process-tree.ts';
import { privateFolder, runtimeFolder } from './runtime-folder.ts';
import { MiB } from '../units.ts';

export interface Reservation {
  id: string;
  gpu: number;
  bytes: number;
  /** The task or server it is for. */
  owner: string;
  /** The process that reserved it (a VS Code extension host, the CLI): gone → the entry goes. */
  holderPid: number;
  /** The server, once it runs: gone → the entry goes. */
  serverPid: number | null;
  createdAt: number;
  expiresAt: number;
}

export const RESERVATIONS_FILE = 'reservations.json';
/** The most reservations in force at once: far more than one GPU box starts at a time. */
export const MAX_RESERVATIONS = 256;
/** A bigger file is not ours (MAX_RESERVATIONS entries at their largest fit well below). */
const MAX_FILE_BYTES = MiB;

/** $XDG_RUNTIME_DIR/vram-guard/reservations.json, else <tmp>/vram-guard-<uid>/reservations.json. */
export function reservationsPath(env: NodeJS.ProcessEnv = process.env, uid?: number, tmp?: string): string {
  return join(runtimeFolder(env, uid, tmp), RESERVATIONS_FILE);
}

export interface ReservationBookOptions {
  now?: () => number;
  alive?: (pid: number) => boolean;
  /** How long a change waits for the lock another process holds before it fails (default 10 s). */
  lockWaitMs?: number;
  /** Paces and times that wait (tests pass a fake clock). */
  clock?: Clock;
}

function valid(x: unknown): x is Reservation {
  const r = x as Record<string, unknown>;
  const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  return (
    !!r &&
    typeof r === 'object' &&
    typeof r.id === 'string' &&
    (r.id as string).length <= 128 &&
    int(r.gpu) &&
    int(r.bytes) &&
    typeof r.owner === 'string' &&
    (r.owner as string).length <= 512 &&
    int(r.holderPid) &&
    (r.serverPid === null || int(r.serverPid)) &&
    int(r.createdAt) &&
    int(r.expiresAt)
  );
}

let counter = 0;

export class ReservationBook {
  readonly path: string;
  private readonly now: () => number;
  private readonly alive: (pid: number) => boolean;
  private readonly lockWaitMs: number | undefined;
  private readonly clock: Clock | undefined;

  constructor(path: string, options: ReservationBookOptions = {}) {
    this.path = path;
    this.now = options.now ?? Date.now;
    this.alive = options.alive ?? isAlive;
    this.lockWaitMs = options.lockWaitMs;
    this.clock = options.clock;
  }

  private live(entries: Reservation[]): Reservation[] {
    const now = this.now();
    return entries.filter((r) => r.expiresAt > now && this.alive(r.holderPid) && (r.serverPid === null || this.alive(r.serverPid)));
  }

  private async read(): Promise<Reservation[]> {
    let text: string;
    try {
      const st = await lstat(this.path);
      if (!st.isFile())
        throw new Error(
          `${this.path} is ${st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}, not the reservations file: remove it`,
        );
      if (st.size > MAX_FILE_BYTES) return [];
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      const data = JSON.parse(text) as { reservations?: unknown };
      return Array.isArray(data?.reservations) ? data.reservations.filter(valid) : [];
    } catch {
      // Not JSON (not ours): nothing reserved; the next change replaces it.
      return [];
    }
  }

  private async write(entries: Reservation[], lock: HeldFileLock): Promise<void> {
    if (entries.length > MAX_RESERVATIONS)
      throw new Error(`${entries.length} reservations would be in force, more than the ${MAX_RESERVATIONS} this file holds; nothing was changed`);
    await replaceFileUnderLock(lock, this.path, JSON.stringify({ version: 1, reservations: entries }));
  }

  /** Reservations still in force. Throws when the folder or file is not ours (see runtime-folder.ts). */
  async list(gpu?: number): Promise<Reservation[]> {
    if (!(await privateFolder(dirname(this.path), false, 'reservations'))) return [];
    const live = this.live(await this.read());
    return gpu === undefined ? live : live.filter((r) => r.gpu === gpu);
  }

  /**
   * Runs `fn` with the reservations in force, under the lock; what it returns as `next` replaces
   * them. The check and the reservation it leads to happen in one step.
   */
  async update<T>(fn: (live: Reservation[]) => { result: T; next?: Reservation[] } | Promise<{ result: T; next?: Reservation[] }>): Promise<T> {
    await privateFolder(dirname(this.path), true, 'reservations');
    return withFileLock(
      `${this.path}.lock`,
      async (lock) => {
        const live = this.live(await this.read());
        const { result, next } = await fn(live);
        if (next) await this.write(next, lock);
        return result;
      },
      { waitMs: this.lockWaitMs, clock: this.clock, name: 'reservations' },
    );
  }

  newId(owner: string): string {
    return `${process.pid}-${this.now()}-${++counter}-${owner.replace(/[^\w.-]/g, '_').slice(0, 40)}`;
  }

  async remove(id: string): Promise<void> {
    await this.update((live) => ({ result: undefined, next: live.filter((r) => r.id !== id) }));
  }

  async setServerPid(id: string, serverPid: number): Promise<void> {
    await this.update((live) => ({ result: undefined, next: live.map((r) => (r.id === id ? { ...r, serverPid } : r)) }));
  }
}
