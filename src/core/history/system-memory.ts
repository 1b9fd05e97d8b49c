/** System RAM and swap from /proc/meminfo, read asynchronously (Linux; null elsewhere or on error). */
import { readFile } from 'node:fs/promises';
import type { SystemMemory } from './types.ts';

/** Parses /proc/meminfo's text; null when the fields are missing. Used = total − available. */
export function parseMeminfo(text: string): SystemMemory | null {
  const kib = (key: string): number | null => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  const total = kib('MemTotal');
  const available =
    kib('MemAvailable') ??
    (() => {
      const free = kib('MemFree');
      return free === null ? null : free + (kib('Buffers') ?? 0) + (kib('Cached') ?? 0);
    })();
  const swapTotal = kib('SwapTotal');
  const swapFree = kib('SwapFree');
  if (total === null || available === null) return null;
  return {
    ramTotal: total,
    ramUsed: Math.max(0, total - available),
    swapTotal: swapTotal ?? 0,
    swapUsed: swapTotal !== null && swapFree !== null ? Math.max(0, swapTotal - swapFree) : 0,
  };
}

export async function readSystemMemory(path = '/proc/meminfo'): Promise<SystemMemory | null> {
  try {
    return parseMeminfo(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
}
