/**
 * Process trees from /proc, read asynchronously (never blocking the extension host): who is whose
 * parent, and every descendant of a PID. Linux only; elsewhere the table is empty and a tree is just
 * its root.
 */
import { readdir, readFile } from 'node:fs/promises';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The command name (`comm`), e.g. "ollama", "llama-server". */
  name: string;
}

export type ProcessTable = Map<number, ProcessInfo>;

/** Parses one `/proc/PID/stat` line: `pid (comm) state ppid ...`; comm may hold spaces and parentheses. */
export function parseStat(line: string): ProcessInfo | null {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(line.slice(0, open).trim());
  const rest = line.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid)) return null;
  return { pid, ppid, name: line.slice(open + 1, close) };
}

/** Every process visible in `/proc` (`root` for tests). Processes that vanish while being read are skipped. */
export async function readProcessTable(root = '/proc'): Promise<ProcessTable> {
  const table: ProcessTable = new Map();
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return table;
  }
  const pids = entries.filter((e) => /^\d+$/.test(e));
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const info = parseStat(await readFile(`${root}/${pid}/stat`, 'utf8'));
        if (info) table.set(info.pid, info);
      } catch {
        // gone between readdir and read
      }
    }),
  );
  return table;
}

/** The PIDs of `root` and all its descendants in `table` (root first, then breadth first). */
export function treeOf(root: number, table: ProcessTable): number[] {
  const children = new Map<number, number[]>();
  for (const p of table.values()) {
    let list = children.get(p.ppid);
    if (!list) {
      list = [];
      children.set(p.ppid, list);
    }
    list.push(p.pid);
  }
  const out = [root];
  const seen = new Set(out);
  // The loop also visits the children pushed onto `out` as it goes.
  for (const pid of out) {
    for (const child of children.get(pid) ?? []) {
      if (!seen.has(child)) {
        seen.add(child);
        out.push(child);
      }
    }
  }
  return out;
}

/** The PIDs of the tree under `root`, read now. */
export async function processTree(root: number): Promise<number[]> {
  return treeOf(root, await readProcessTable());
}

/** Whether a process is running: it exists and, where /proc tells, is not a zombie waiting to be reaped. */
export async function isRunning(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/** Whether a process exists (signal 0); a zombie still counts until reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a process group has a member still running: as `groupAlive`, but a member that has exited
 * and only waits to be reaped (a zombie) does not count. A server orphaned by its launcher is
 * reaped by PID 1, which in a container may take a second (or never come): counting its zombie
 * would wait out the stop timeout and SIGKILL a group that had already ended. Where /proc cannot be
 * read, `groupAlive` answers.
 */
export async function groupRunning(pgid: number, root = '/proc'): Promise<boolean> {
  if (!groupAlive(pgid)) return false;
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return true;
  }
  const members = await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        try {
          const stat = await readFile(`${root}/${pid}/stat`, 'utf8');
          // After "(comm) ": state, ppid, pgrp, …
          const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return Number(pgrp) === pgid && state !== 'Z';
        } catch {
          return false; // gone between readdir and read
        }
      }),
  );
  return members.some(Boolean);
}

/** The process group a process is in, from /proc; null where it cannot be read (gone, or no /proc). */
export async function processGroupOf(pid: number, root = '/proc'): Promise<number | null> {
  try {
    const stat = await readFile(`${root}/${pid}/stat`, 'utf8');
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    return Number.isInteger(pgrp) ? pgrp : null;
  } catch {
    return null;
  }
}

/** Whether a process group still has a member (a zombie counts until reaped). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends a signal, ignoring a process (or group, with a negative id) that is already gone. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone, or the platform has no process groups
  }
}
