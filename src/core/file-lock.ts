/**
 * Cross-process exclusion for the files more than one process writes (the reservations every
 * window and the CLI share, the measured footprints, the GPU lock of exclusive tasks): one lock
 * file beside the data, locked by the operating system.
 *
 * WHY AN OS LOCK, AND WHY THIS ONE. A lock made of a file's existence (O_EXCL, mkdir, or a library
 * such as proper-lockfile) must guess when its holder is gone, from a PID or an age, and every
 * guess loses updates: a holder frozen (SIGSTOP, a suspended VM, a debugger) past the staleness
 * time has its lock broken while it is still about to write, and two waiters that judge the same
 * lock stale can both take it. proper-lockfile only reports that afterwards ("compromised"), when
 * the other writer may already have read the old file. An OS lock needs no guess: the kernel
 * drops it when the holder's last descriptor closes, which includes the holder dying by any signal;
 * a frozen holder keeps it, so no one writes under it. So:
 *
 * - Linux, macOS: flock(2) through koffi (already shipped for NVML, so no new native module; it
 *   loads on every Node the CLI supports, 18.19 included). flock, not fcntl: an fcntl lock belongs
 *   to the process, so two holders in one process (two windows' worth of code in one extension
 *   host, a test) would not exclude each other, and closing any descriptor of the file drops it.
 *   flock belongs to the open file description; Node opens files close-on-exec, so a server
 *   spawned while a lock is held does not inherit it and cannot keep it past our death.
 * - Windows: the file is opened share-nothing (libuv's UV_FS_O_EXLOCK): a second open fails with
 *   EBUSY until the holder's handle closes, which the kernel does when the holder dies. (There a
 *   waiter cannot read who holds it, so its message says "another process".)
 *
 * WHY LOCK_NB AND AN ASYNC POLL. A blocking flock would stop the extension host's thread; in a
 * worker thread it could not be cancelled (a thread inside a native call cannot be stopped, and
 * process exit waits for it), so a frozen holder would pin the worker and our exit. Instead each
 * try is flock(LOCK_EX | LOCK_NB), a syscall that returns at once, and between tries the wait is a
 * timer on the injected clock (2 ms doubling to `maxPollMs`), until `waitMs` has passed: then the
 * waiter gives up with "… is held by PID N since …". No one breaks a lock and no one waits without
 * end unless asked to (the GPU lock waits until its task is cancelled).
 *
 * THE FILE. It is never deleted by us (deleting a lock file is what lets two holders lock two
 * different files). It is opened without following a symbolic link, and must be a regular file:
 * a directory, a link or anything else in its place is a clear error, never something removed. After
 * locking, the descriptor is checked to still be the file at the path (someone may have deleted or
 * replaced it between our open and our lock); if not, the lock is retried on the new file. A holder
 * calls `verify()` just before it commits a write, which fails when the lock file was deleted or
 * replaced while held — another process could then hold a lock on the new file. The holder writes
 * its PID, the time and a name into the file, for the waiters' messages only: what is written there
 * never decides anything.
 *
 * Limits: on NFS, Linux emulates flock with fcntl byte-range locks (per process); the folders used
 * here ($XDG_RUNTIME_DIR, the temp folder, the editor's global storage) are local on every setup
 * we know of.
 */
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, rename, unlink, writeFile } from 'node:fs/promises';
import { type Clock, systemClock } from './clock.ts';
import { errorMessage } from './errors.ts';

/** Who holds a lock, as its holder wrote it into the lock file. */
export interface LockHolder {
  pid: number;
  /** When it took the lock (ms since the epoch, its clock). */
  since: number;
  /** What it holds the lock for (a task's name, "reservations"). */
  name: string;
}

export interface FileLockOptions {
  /** How long to wait for a lock another holder has, in ms, before giving up (default 10 s; Infinity: until `signal`). */
  waitMs?: number;
  /** The longest pause between two tries, in ms (default 50). */
  maxPollMs?: number;
  /** Paces and times the wait; tests pass a fake one. */
  clock?: Clock;
  signal?: AbortSignal;
  /** What the lock is taken for, written for waiters' messages. */
  name?: string;
}

export const DEFAULT_LOCK_WAIT_MS = 10_000;

/** A lock file that cannot be used (a directory, a link, no permission): said plainly, nothing removed. */
export class FileLockError extends Error {
  override name = 'FileLockError';
}

/** Waited `waitMs` for a lock another process holds; it was not broken. */
export class FileLockTimeoutError extends FileLockError {
  override name = 'FileLockTimeoutError';
  readonly holder: LockHolder | null;
  constructor(message: string, holder: LockHolder | null) {
    super(message);
    this.holder = holder;
  }
}

export interface HeldFileLock {
  readonly path: string;
  /** Throws when the lock file was deleted or replaced while held: the caller must not commit its write. */
  verify(): Promise<void>;
  release(): Promise<void>;
}

/** The one OS call this module needs: try to take (or drop) the lock on `fd` without waiting. */
interface Flock {
  /** True when taken, false when another holder has it; throws on any other failure. */
  tryExclusive(fd: number): boolean;
  unlock(fd: number): void;
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
/** libuv's share-nothing open on Windows (not exported by every Node as a constant). */
const UV_FS_O_EXLOCK = 0x10000000;
const isWindows = process.platform === 'win32';

interface KoffiForFlock {
  load(path: string | null): { func(signature: string): (...args: number[]) => number };
  errno(): number;
  os: { errno: Record<string, number> };
}

let flockPromise: Promise<Flock> | null = null;

/** flock(2) from the C library already in the process (dlopen(NULL)), bound once per process. */
function loadFlock(): Promise<Flock> {
  flockPromise ??= (async () => {
    let koffi: KoffiForFlock;
    try {
      const mod = (await import('koffi')) as unknown as { default?: KoffiForFlock } & KoffiForFlock;
      koffi = mod.default ?? mod;
    } catch (err) {
      throw new FileLockError(`cross-process locks are unavailable: koffi could not load (${errorMessage(err)}). Reinstall VRAM Guard for this platform.`);
    }
    let flock: (fd: number, operation: number) => number;
    try {
      flock = koffi.load(null).func('int flock(int, int)');
    } catch (err) {
      throw new FileLockError(`cross-process locks are unavailable: flock could not be found in the C library (${errorMessage(err)})`);
    }
    const busy = new Set([koffi.os.errno.EWOULDBLOCK, koffi.os.errno.EAGAIN]);
    const EINTR = koffi.os.errno.EINTR;
    return {
      tryExclusive(fd: number): boolean {
        for (;;) {
          if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
          const errno = koffi.errno();
          if (busy.has(errno)) return false;
          if (errno !== EINTR) throw new FileLockError(`flock failed with errno ${errno}`);
        }
      },
      unlock(fd: number): void {
        flock(fd, LOCK_UN);
      },
    };
  })();
  flockPromise.catch(() => {
    flockPromise = null;
  });
  return flockPromise;
}

/** Reads what the holder wrote: "pid since name" as JSON. Null when absent or not ours. */
function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isSafeInteger(h.pid) && (h.pid as number) > 0 && Number.isFinite(h.since) && typeof h.name === 'string')
      return { pid: h.pid as number, since: h.since as number, name: h.name.slice(0, 200) };
  } catch {}
  return null;
}

async function readHolderFrom(fh: FileHandle): Promise<LockHolder | null> {
  const buf = Buffer.alloc(1024);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0).catch(() => ({ bytesRead: 0 }));
  return parseHolder(buf.subarray(0, bytesRead).toString('utf8'));
}

/** The holder of the lock at `path` while someone holds it; null when it is free (or unreadable). */
export async function lockHolder(path: string): Promise<LockHolder | null> {
  const lock = await acquireFileLock(path, { waitMs: 0 }).catch((err: unknown) => (err instanceof FileLockTimeoutError ? err : null));
  if (lock instanceof FileLockTimeoutError) return lock.holder;
  await lock?.release();
  return null;
}

export function describeHolder(holder: LockHolder | null): string {
  if (!holder) return 'held by another process';
  return `held by PID ${holder.pid}${holder.name ? ` ("${holder.name}")` : ''} since ${new Date(holder.since).toISOString()}`;
}

function openError(path: string, err: unknown): FileLockError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return new FileLockError(`the lock file ${path} is a symbolic link, which a lock never follows: remove it`);
  if (code === 'EISDIR') return new FileLockError(`the lock file ${path} is a directory, not a file: remove it`);
  if (code === 'EACCES' || code === 'EPERM')
    return new FileLockError(`the lock file ${path} cannot be opened (permission denied): give it back to this user or remove it`);
  return new FileLockError(`the lock file ${path} cannot be opened (${errorMessage(err)})`);
}

/** The open lock file; null on Windows when another holder has it open (share-nothing: EBUSY). */
async function openLockFile(path: string): Promise<FileHandle | null> {
  // O_NONBLOCK: a FIFO in its place must not hang the open; it is refused below as not a file.
  const flags = isWindows
    ? constants.O_RDWR | constants.O_CREAT | UV_FS_O_EXLOCK
    : constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let fh: FileHandle;
  try {
    fh = await open(path, flags, 0o600);
  } catch (err) {
    if (isWindows && (err as NodeJS.ErrnoException).code === 'EBUSY') return null;
    throw openError(path, err);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new FileLockError(`the lock file ${path} is not a regular file: remove it`);
  }
  return fh;
}

/** Whether `fh` is still the file at `path` (not deleted, not replaced). */
async function stillAtPath(fh: FileHandle, path: string): Promise<boolean> {
  const [mine, there] = await Promise.all([fh.stat(), lstat(path).catch(() => null)]);
  return !!there && there.isFile() && there.ino === mine.ino && there.dev === mine.dev;
}

function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function writeHolder(fh: FileHandle, holder: LockHolder): Promise<void> {
  await fh.truncate(0);
  await fh.write(JSON.stringify(holder), 0, 'utf8');
}

/**
 * Takes the lock at `path` (created if missing), waiting up to `waitMs` for another holder.
 * Throws FileLockTimeoutError ("… held by PID N since …") after the wait, FileLockError when the
 * lock file cannot be used, and `signal.reason` when aborted.
 */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<HeldFileLock> {
  const clock = options.clock ?? systemClock;
  const waitMs = options.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const maxPollMs = options.maxPollMs ?? 50;
  const started = clock.now();
  const flock = isWindows ? null : await loadFlock();
  let pause = 2;
  for (;;) {
    options.signal?.throwIfAborted();
    let fh: FileHandle | null = null;
    let busy = false;
    if (flock) {
      fh = (await openLockFile(path)) as FileHandle;
      try {
        // Synchronous tries on one descriptor: a fake clock's timers fire straight into the next try.
        for (;;) {
          if (flock.tryExclusive(fh.fd)) break;
          if (clock.now() - started >= waitMs) {
            busy = true;
            break;
          }
          await sleep(clock, pause, options.signal);
          pause = Math.min(maxPollMs, pause * 2);
        }
      } catch (err) {
        await fh.close();
        throw err;
      }
      if (!busy && !(await stillAtPath(fh, path))) {
        // Deleted or replaced between our open and our lock: lock the file that is there now.
        await fh.close();
        continue;
      }
    } else {
      fh = await openLockFile(path);
      if (!fh) {
        if (clock.now() - started >= waitMs) busy = true;
        else {
          await sleep(clock, pause, options.signal);
          pause = Math.min(maxPollMs, pause * 2);
          continue;
        }
      }
    }
    if (busy) {
      const holder = fh ? await readHolderFrom(fh) : null;
      await fh?.close();
      throw new FileLockTimeoutError(
        `${path} is ${describeHolder(holder)}; gave up after waiting ${Math.round((clock.now() - started) / 100) / 10} s (the lock was left alone)`,
        holder,
      );
    }
    const held = fh as FileHandle;
    await writeHolder(held, { pid: process.pid, since: Date.now(), name: options.name ?? '' }).catch(() => {});
    let released = false;
    return {
      path,
      async verify() {
        if (released) throw new FileLockError(`the lock ${path} was already released`);
        if (!isWindows && !(await stillAtPath(held, path)))
          throw new FileLockError(`the lock file ${path} was deleted or replaced while held, so another process may hold it now; nothing was written`);
      },
      async release() {
        if (released) return;
        released = true;
        await held.truncate(0).catch(() => {});
        if (flock) flock.unlock(held.fd);
        await held.close();
      },
    };
  }
}

/** Runs `fn` holding the lock at `path`; the lock is released however `fn` ends. */
export async function withFileLock<T>(path: string, fn: (lock: HeldFileLock) => Promise<T> | T, options: FileLockOptions = {}): Promise<T> {
  const lock = await acquireFileLock(path, options);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

/**
 * Replaces the file at `path` with `text` while `lock` is held: written to one temporary name beside
 * it (only the lock's holder writes it, and a holder killed mid-write leaves one file that the next
 * overwrites; never through a symbolic link), then renamed over it once the lock is verified still
 * ours. The temporary file is removed when anything fails.
 */
export async function replaceFileUnderLock(lock: HeldFileLock, path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (constants.O_NOFOLLOW ?? 0) });
    await lock.verify();
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
