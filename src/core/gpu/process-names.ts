/**
 * Process names from /proc, for when NVML does not know them. A process chooses its own command
 * line (any local user can name one "\x1B]0;…\x07" or put a line break in it): names come back printable.
 */
import { readFile } from 'node:fs/promises';
import { printable } from './output-quote.ts';

export async function processNameFromProc(pid: number, procRoot = '/proc'): Promise<string | null> {
  try {
    const cmdline = await readFile(`${procRoot}/${pid}/cmdline`, 'utf8');
    const argv0 = cmdline.split('\0')[0];
    if (argv0) return printable(argv0);
  } catch {
    // the process is gone, or /proc is not there (Windows): try comm, then give up
  }
  try {
    const comm = (await readFile(`${procRoot}/${pid}/comm`, 'utf8')).trim();
    return comm ? printable(comm) : null;
  } catch {
    return null;
  }
}

/** Remembers names by PID for as long as the PID stays in the process lists. */
export class ProcessNameCache {
  private readonly names = new Map<number, string | null>();

  get(pid: number): string | null | undefined {
    return this.names.get(pid);
  }

  set(pid: number, name: string | null): void {
    this.names.set(pid, name);
  }

  /** Forgets PIDs no longer seen, so a reused PID gets its new name. */
  retain(seen: ReadonlySet<number>): void {
    for (const pid of this.names.keys()) if (!seen.has(pid)) this.names.delete(pid);
  }
}
