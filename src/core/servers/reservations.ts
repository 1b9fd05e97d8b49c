/**
 * VRAM reserved by servers that passed the gate but whose memory NVML does not show yet. Two
 * servers started at once must not both pass on the same free memory: a gate that passes writes
 * its need here, and the next gate (in any VS Code window, or the CLI) counts it as taken.
 *
 * One small JSON file per user under $XDG_RUNTIME_DIR/vram-guard (else the OS temp folder, with
 * the uid in the name). Each entry names the process that reserved it and, once started, the
 * server's PID; an entry whose process is gone, or whose time is up, is dropped when read. Changes
 * are made under a lock file created with O_EXCL; a lock whose holder is dead or that is older than
 * `lockStaleMs` is broken, so a crashed holder cannot block anyone for long, and no one waits
 * without end. The file itself is replaced atomically (temporary file, then rename).
 */
import { lstat, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isAlive } from './process-tree.ts';

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
const MAX_FILE_BYTES = 64 * 1024;
const MAX_ENTRIES = 64;

/** $XDG_RUNTIME_DIR/vram-guard/reservations.json, else <tmp>/vram-guard-<uid>/reservations.json. */
export function reservationsPath(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0, tmp: string = tmpdir()): string {
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, 'vram-guard', RESERVATIONS_FILE) : join(tmp, `vram-guard-${uid}`, RESERVATIONS_FILE);
}

export interface ReservationBookOptions {
  now?: () => number;
  alive?: (pid: number) => boolean;
  /** A lock older than this is broken (default 2 s); waiting gives up on it after 2× this. */
  lockStaleMs?: number;
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
  private readonly lockStaleMs: number;

  constructor(path: string, options: ReservationBookOptions = {}) {
    this.path = path;
    this.now = options.now ?? Date.now;
    this.alive = options.alive ?? isAlive;
    this.lockStaleMs = options.lockStaleMs ?? 2000;
  }

  private live(entries: Reservation[]): Reservation[] {
    const now = this.now();
    return entries.filter((r) => r.expiresAt > now && this.alive(r.holderPid) && (r.serverPid === null || this.alive(r.serverPid)));
  }

  private async read(): Promise<Reservation[]> {
    try {
      const text = await readFile(this.path, 'utf8');
      if (text.length > MAX_FILE_BYTES) return [];
      const data = JSON.parse(text) as { reservations?: unknown };
      return Array.isArray(data?.reservations) ? data.reservations.filter(valid) : [];
    } catch {
      // Missing, half-written by a crashed writer before the rename, or not ours: nothing reserved.
      return [];
    }
  }

  private async write(entries: Reservation[]): Promise<void> {
    const tmp = `${this.path}.${process.pid}.${++counter}.tmp`;
    await writeFile(tmp, JSON.stringify({ version: 1, reservations: entries.slice(-MAX_ENTRIES) }), { mode: 0o600 });
    await rename(tmp, this.path);
  }

  /** Reservations still in force. */
  async list(gpu?: number): Promise<Reservation[]> {
    const live = this.live(await this.read());
    return gpu === undefined ? live : live.filter((r) => r.gpu === gpu);
  }

  private async lock(): Promise<() => Promise<void>> {
    const lockPath = `${this.path}.lock`;
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // In a shared temp folder, someone else could have made the folder first: use it only if it is ours.
    const st = await lstat(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) {
      throw new Error(`${dir} is not a private folder of this user (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); reservations are not shared`);
    }
    const started = this.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(lockPath, 'wx', 0o600);
        await fh.writeFile(`${process.pid} ${this.now()}`);
        await fh.close();
        return async () => {
          await unlink(lockPath).catch(() => {});
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const [pidText, timeText] = (await readFile(lockPath, 'utf8').catch(() => '')).split(' ');
      const pid = Number(pidText);
      const age = this.now() - Number(timeText);
      const stale = !Number.isSafeInteger(pid) || pid <= 0 || !this.alive(pid) || !(age < this.lockStaleMs) || this.now() - started > 2 * this.lockStaleMs;
      if (stale) {
        await unlink(lockPath).catch(() => {});
        continue;
      }
      await new Promise((r) => setTimeout(r, Math.min(50, 5 + attempt * 5)));
    }
  }

  /**
   * Runs `fn` with the reservations in force, under the lock; what it returns as `next` replaces
   * them. The check and the reservation it leads to happen in one step.
   */
  async update<T>(fn: (live: Reservation[]) => { result: T; next?: Reservation[] } | Promise<{ result: T; next?: Reservation[] }>): Promise<T> {
    const unlock = await this.lock();
    try {
      const live = this.live(await this.read());
      const { result, next } = await fn(live);
      if (next) await this.write(next);
      return result;
    } finally {
      await unlock();
    }
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
