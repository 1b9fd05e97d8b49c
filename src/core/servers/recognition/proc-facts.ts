/**
 * What /proc says about one process, read asynchronously and bounded: its start time and parent
 * (`stat`), program (`exe`), arguments (`cmdline`), owner, systemd unit (`cgroup`) and the socket
 * inodes it holds (`fd`). A process that exits while it is read, or whose entries this user may
 * not read (another user's `exe` and `fd`), gives a partial answer — never a throw.
 */
import { open, readdir, readlink, stat } from 'node:fs/promises';
import { MiB } from '../../units.ts';

/** How /proc is read; tests pass one that refuses an entry as the kernel does for another user's process. */
export interface ProcReader {
  /** At most `maxBytes` of a file. */
  read(path: string, maxBytes: number): Promise<string>;
  readlink(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  ownerUid(path: string): Promise<number>;
  /**
   * Opens a small file to read again and again (a cached process's `stat`): one read per refresh
   * instead of open, read and close. The descriptor stays on the process it was opened for: once
   * that process is gone, a read fails, even if its PID has been given to another.
   */
  openSmall(path: string): Promise<HeldFile>;
}

export interface HeldFile {
  read(): Promise<string>;
  close(): Promise<void>;
}

export async function readBounded(path: string, maxBytes: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(maxBytes, 64 * 1024));
    const parts: Buffer[] = [];
    let total = 0;
    // /proc files report size 0: read until the end or the bound.
    while (total < maxBytes) {
      const asked = Math.min(buf.length, maxBytes - total);
      const { bytesRead } = await fh.read(buf, 0, asked, null);
      if (bytesRead === 0) break;
      parts.push(Buffer.from(buf.subarray(0, bytesRead)));
      total += bytesRead;
      // A first read shorter than asked and than a page is the whole of a /proc file: spare the read that would return 0.
      if (total === bytesRead && bytesRead < asked && bytesRead < 4096) break;
    }
    return Buffer.concat(parts).toString('utf8');
  } finally {
    await fh.close();
  }
}

export const realProcReader: ProcReader = {
  read: readBounded,
  readlink: (path) => readlink(path),
  readdir: (path) => readdir(path),
  ownerUid: async (path) => (await stat(path)).uid,
  openSmall: async (path) => {
    const fh = await open(path, 'r');
    return {
      read: async () => {
        const buf = Buffer.allocUnsafe(4096);
        const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
        return buf.toString('utf8', 0, bytesRead);
      },
      close: () => fh.close(),
    };
  },
};

export interface SystemdUnit {
  /** The unit as systemd names it (what `systemctl` takes), e.g. "ollama.service". */
  name: string;
  /** A user unit (under user@UID.service) or a system one. */
  scope: 'user' | 'system';
}

export interface ProcessFacts {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks after boot): with the PID, it names one process, since PIDs are reused. */
  startTicks: number | null;
  ppid: number | null;
  /** The command name (`comm`). */
  comm: string | null;
  /** The executable's path; null when it cannot be read (another user's process). */
  exe: string | null;
  /** The arguments, program first; empty when unreadable (a kernel thread, a zombie). */
  argv: string[];
  uid: number | null;
  unit: SystemdUnit | null;
  /** The entries that could not be read, and why ("exe: permission denied", "gone"). */
  missing: string[];
  /** The process exited while it was read. */
  gone: boolean;
}

const STAT_BYTES = 4096;
const CMDLINE_BYTES = 32 * 1024;
const CGROUP_BYTES = 16 * 1024;
const FD_LIMIT = 4096;

export interface StatFields {
  ppid: number;
  comm: string;
  startTicks: number;
}

/** `pid (comm) state ppid ...`: comm may hold spaces and parentheses; starttime is field 22. */
export function parseStatFields(line: string): StatFields | null {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = line.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  const startTicks = Number(rest[19]);
  if (!Number.isInteger(ppid) || !Number.isSafeInteger(startTicks)) return null;
  return { ppid, comm: line.slice(open + 1, close), startTicks };
}

/** The start time in a held `stat`; null when the process is gone or the line unreadable. */
export async function heldStartTicks(file: HeldFile): Promise<number | null> {
  try {
    return parseStatFields(await file.read())?.startTicks ?? null;
  } catch {
    return null;
  }
}

/** A unit name systemctl would take: letters, digits and `:_.@-\`, with a unit suffix, at most 256 characters. */
const UNIT_NAME = /^[A-Za-z0-9:_.@\\-]{1,256}\.(service|scope)$/;

/**
 * The systemd unit from /proc/PID/cgroup (cgroup v2 `0::/…`, or v1's `name=systemd`): the last
 * `.service` or `.scope` in the path. A name with characters systemd does not write is not believed.
 */
export function unitFromCgroup(text: string): SystemdUnit | null {
  const lines = text.split('\n');
  const line = lines.find((l) => l.startsWith('0::')) ?? lines.find((l) => l.includes(':name=systemd:'));
  if (!line) return null;
  const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  const parts = path.split('/').filter(Boolean);
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] ?? '';
    if (!/\.(service|scope)$/.test(part)) continue;
    if (!UNIT_NAME.test(part)) return null;
    // user@1000.service itself is the user manager: the user's unit is below it.
    if (/^user@\d+\.service$/.test(part)) return null;
    const user = parts.slice(0, i).some((p) => /^user@\d+\.service$/.test(p));
    return { name: part, scope: user ? 'user' : 'system' };
  }
  return null;
}

function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOENT' || code === 'ESRCH') return 'gone';
  return code ?? 'unreadable';
}

/** Reads what /proc says about `pid`. Never throws. */
export async function readProcessFacts(pid: number, procRoot = '/proc', reader: ProcReader = realProcReader): Promise<ProcessFacts> {
  const dir = `${procRoot}/${pid}`;
  const facts: ProcessFacts = { pid, startTicks: null, ppid: null, comm: null, exe: null, argv: [], uid: null, unit: null, missing: [], gone: false };
  const attempt = async <T>(entry: string, read: () => Promise<T>): Promise<T | null> => {
    try {
      return await read();
    } catch (err) {
      const reason = why(err);
      if (reason === 'gone') facts.gone = true;
      facts.missing.push(`${entry}: ${reason}`);
      return null;
    }
  };
  const [statText, exe, cmdline, cgroup, uid] = await Promise.all([
    attempt('stat', () => reader.read(`${dir}/stat`, STAT_BYTES)),
    attempt('exe', () => reader.readlink(`${dir}/exe`)),
    attempt('cmdline', () => reader.read(`${dir}/cmdline`, CMDLINE_BYTES)),
    attempt('cgroup', () => reader.read(`${dir}/cgroup`, CGROUP_BYTES)),
    attempt('owner', () => reader.ownerUid(dir)),
  ]);
  const s = statText === null ? null : parseStatFields(statText);
  if (s) {
    facts.startTicks = s.startTicks;
    facts.ppid = s.ppid;
    facts.comm = s.comm;
  }
  // A deleted executable (replaced by an upgrade while it runs) reads "/path (deleted)".
  facts.exe = exe === null ? null : exe.replace(/ \(deleted\)$/, '');
  facts.argv = cmdline ? cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1) : [];
  facts.uid = uid;
  facts.unit = cgroup === null ? null : unitFromCgroup(cgroup);
  return facts;
}

/** The inodes of the sockets `pid` holds (from /proc/PID/fd); null when its fds cannot be read. */
export async function socketInodes(pid: number, procRoot = '/proc', reader: ProcReader = realProcReader): Promise<number[] | null> {
  let fds: string[];
  try {
    fds = await reader.readdir(`${procRoot}/${pid}/fd`);
  } catch {
    return null;
  }
  const links = await Promise.all(fds.slice(0, FD_LIMIT).map((fd) => reader.readlink(`${procRoot}/${pid}/fd/${fd}`).catch(() => '')));
  const out: number[] = [];
  for (const link of links) {
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

const NET_BYTES = 8 * MiB;

/** Listening TCP sockets (state 0A) of /proc/net/tcp and tcp6: inode → port. */
export function parseListeningSockets(text: string, into: Map<number, number> = new Map()): Map<number, number> {
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[3] !== '0A' || f.length < 10) continue;
    const port = Number.parseInt((f[1] ?? '').split(':')[1] ?? '', 16);
    const inode = Number(f[9]);
    if (port > 0 && inode > 0) into.set(inode, port);
  }
  return into;
}

export async function readListeningSockets(procRoot = '/proc', reader: ProcReader = realProcReader): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const file of ['tcp', 'tcp6']) {
    try {
      parseListeningSockets(await reader.read(`${procRoot}/net/${file}`, NET_BYTES), out);
    } catch {
      // no IPv6, or no /proc (not Linux)
    }
  }
  return out;
}

/** Clock ticks per second in /proc/PID/stat's start time: USER_HZ, 100 on every Linux architecture Node runs on. */
export const USER_HZ = 100;

/** The boot time (ms since the epoch) from /proc/stat's `btime`; null when it cannot be read. */
export async function readBootTime(procRoot = '/proc', reader: ProcReader = realProcReader): Promise<number | null> {
  try {
    const m = /^btime (\d+)$/m.exec(await reader.read(`${procRoot}/stat`, 64 * 1024));
    return m ? Number(m[1]) * 1000 : null;
  } catch {
    return null;
  }
}
