/**
 * The GPU lock across processes: one file per GPU beside the reservations
 * ($XDG_RUNTIME_DIR/vram-guard/gpu-N.lock), created with O_EXCL, naming its holder (what, PID,
 * since). A holder that is gone (its PID no longer runs) loses the lock to the next one who asks;
 * a waiter reads the file to say who holds it and since when.
 */
import { lstat, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isAlive } from './process-tree.ts';

export interface FileLockHolder {
  name: string;
  pid: number;
  since: number;
}

export function gpuLockPath(reservationsFile: string, gpu: number): string {
  return join(dirname(reservationsFile), `gpu-${gpu}.lock`);
}

function parseHolder(text: string): FileLockHolder | null {
  try {
    const h = JSON.parse(text) as Partial<FileLockHolder>;
    if (typeof h.name === 'string' && Number.isSafeInteger(h.pid) && Number.isSafeInteger(h.since))
      return { name: h.name.slice(0, 200), pid: h.pid as number, since: h.since as number };
  } catch {
    // half-written, or not ours
  }
  return null;
}

export interface FileLockOptions {
  alive?: (pid: number) => boolean;
  now?: () => number;
  pollMs?: number;
}

export class GpuFileLock {
  readonly path: string;
  private readonly alive: (pid: number) => boolean;
  private readonly now: () => number;
  private readonly pollMs: number;

  constructor(path: string, options: FileLockOptions = {}) {
    this.path = path;
    this.alive = options.alive ?? isAlive;
    this.now = options.now ?? Date.now;
    this.pollMs = options.pollMs ?? 500;
  }

  /** Who holds it now; null when no one (a dead holder counts as no one). */
  async holder(): Promise<FileLockHolder | null> {
    const h = parseHolder(await readFile(this.path, 'utf8').catch(() => ''));
    return h && this.alive(h.pid) ? h : null;
  }

  /** Takes the lock once it is free: `onWait` is told who holds it (once per holder); `signal` gives up. Resolves with the release. */
  async acquire(name: string, onWait?: (holder: FileLockHolder) => void, signal?: AbortSignal): Promise<() => Promise<void>> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // In a shared temp folder someone else could have made the folder first: use it only if it is ours.
    const st = await lstat(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0)
      throw new Error(`${dir} is not a private folder of this user (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); the GPU lock cannot be taken`);
    let told: number | null = null;
    let unreadable = 0;
    for (;;) {
      if (signal?.aborted) throw new Error(`"${name}" stopped waiting for the GPU lock`);
      try {
        const fh = await open(this.path, 'wx', 0o600);
        const mine: FileLockHolder = { name, pid: process.pid, since: this.now() };
        await fh.writeFile(JSON.stringify(mine));
        await fh.close();
        return async () => {
          const now = parseHolder(await readFile(this.path, 'utf8').catch(() => ''));
          if (now?.pid === mine.pid && now.since === mine.since) await unlink(this.path).catch(() => {});
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = await readFile(this.path, 'utf8').catch(() => null);
      if (text === null) continue; // released meanwhile
      const h = parseHolder(text);
      // Unreadable: being written right now, or cut short by a crash while written. Give the writer a few polls.
      unreadable = h ? 0 : unreadable + 1;
      if ((!h && unreadable > 4) || (h && !this.alive(h.pid))) {
        // Its holder is gone: take it over.
        await unlink(this.path).catch(() => {});
        unreadable = 0;
        continue;
      }
      if (!h) {
        await new Promise((r) => setTimeout(r, this.pollMs));
        continue;
      }
      if (told !== h.since) onWait?.(h);
      told = h.since;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }
}
