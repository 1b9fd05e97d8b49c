/**
 * The fleet in one line for the status bar's tooltip ("fleet: 3 hosts, 7 GPUs, 1 CRITICAL"), and
 * the GPUs that have just turned CRITICAL or worse since the previous refresh (for notifications).
 */
import { printable } from '../gpu/output-quote.ts';
import { levelLabel, levelRank, LEVELS, type Level } from '../watch/levels.ts';
import type { FleetSnapshot } from './fleet-types.ts';

export function fleetLine(snapshot: FleetSnapshot): string {
  const live = snapshot.hosts.filter((h) => !h.stale);
  const gpus = live.flatMap((h) => h.gpus);
  const parts = [`${live.length} host${live.length === 1 ? '' : 's'}`, `${gpus.length} GPU${gpus.length === 1 ? '' : 's'}`];
  for (const level of [...LEVELS].reverse()) {
    if (level === 'ok' || level === 'warning') continue;
    const n = gpus.filter((g) => g.level === level).length;
    if (n) parts.push(`${n} ${levelLabel(level)}`);
  }
  const stale = snapshot.hosts.length - live.length;
  if (stale) parts.push(`${stale} stale`);
  const leftOut = snapshot.leftOut.length;
  if (leftOut) parts.push(`${leftOut} GPU${leftOut === 1 ? '' : 's'} left out`);
  const failed = snapshot.sources.filter((s) => !s.ok).length;
  if (failed) parts.push(`${failed} source${failed === 1 ? '' : 's'} failing`);
  return `fleet: ${parts.join(', ')}`;
}

/**
 * Each GPU left out, as a sentence: "left out: gpu-x GPU 0 (from http://…): implausible reading:
 * used is negative (…)". Printable: the host and the reason come from another machine.
 */
export function leftOutLines(snapshot: FleetSnapshot): string[] {
  return snapshot.leftOut.map((l) => `left out: ${printable(l.host)} GPU ${l.gpu} (from ${printable(l.source)}): ${printable(l.reason)}`);
}

export interface CriticalTurn {
  host: string;
  gpu: number;
  name: string | null;
  level: Level;
  usedBytes: number;
  totalBytes: number;
}

const gpuKey = (host: string, gpu: number, uuid: string | null) => `${host}|${gpu}|${uuid ?? ''}`;

/** GPUs at CRITICAL or above now that were below it (or unknown) in `before`. Stale hosts never notify. */
export function newlyCritical(before: FleetSnapshot | null, now: FleetSnapshot): CriticalTurn[] {
  const was = new Map<string, Level>();
  for (const h of before?.hosts ?? []) for (const g of h.gpus) if (!h.stale) was.set(gpuKey(h.instance, g.index, g.uuid), g.level);
  const out: CriticalTurn[] = [];
  for (const h of now.hosts) {
    if (h.stale) continue;
    for (const g of h.gpus) {
      if (levelRank(g.level) < levelRank('critical')) continue;
      const prev = was.get(gpuKey(h.instance, g.index, g.uuid));
      if (prev !== undefined && levelRank(prev) >= levelRank(g.level)) continue;
      if (before === null) continue; // the first refresh sets the baseline: no burst of notifications at start
      out.push({ host: h.name, gpu: g.index, name: g.name, level: g.level, usedBytes: g.usedBytes, totalBytes: g.totalBytes });
    }
  }
  return out;
}
