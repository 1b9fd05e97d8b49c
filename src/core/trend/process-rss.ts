/**
 * Resident memory (RSS) of every process, from /proc/PID/status (Linux; empty elsewhere), read
 * asynchronously: to name the process behind a RAM spill, the one whose RSS grew the most.
 */
import { readdir, readFile } from 'node:fs/promises';

export interface ProcessRss {
  pid: number;
  name: string;
  rssMiB: number;
}

/** `Name:` and `VmRSS:` of one status file; null for kernel threads (no VmRSS) or unreadable text. */
export function parseStatus(pid: number, text: string): ProcessRss | null {
  const name = /^Name:\s*(.*)$/m.exec(text)?.[1]?.trim();
  const rss = /^VmRSS:\s*(\d+)\s*kB/m.exec(text)?.[1];
  if (!name || rss === undefined) return null;
  return { pid, name, rssMiB: Number(rss) / 1024 };
}

export async function readRssTable(root = '/proc'): Promise<Map<number, ProcessRss>> {
  const out = new Map<number, ProcessRss>();
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return out;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        try {
          const p = parseStatus(Number(e), await readFile(`${root}/${e}/status`, 'utf8'));
          if (p) out.set(p.pid, p);
        } catch {
          // gone between readdir and read
        }
      }),
  );
  return out;
}

/** The process whose RSS grew the most between two readings (a new one from 0), if it grew at all. */
export function grewMost(before: ReadonlyMap<number, ProcessRss>, after: ReadonlyMap<number, ProcessRss>): { process: ProcessRss; grewMiB: number } | null {
  let best: { process: ProcessRss; grewMiB: number } | null = null;
  for (const p of after.values()) {
    const grew = p.rssMiB - (before.get(p.pid)?.rssMiB ?? 0);
    if (grew > 0 && (!best || grew > best.grewMiB)) best = { process: p, grewMiB: grew };
  }
  return best;
}
