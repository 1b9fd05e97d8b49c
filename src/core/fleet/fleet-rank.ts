/**
 * "Where does this fit?": every GPU of every host ranked by the room left after the need. A GPU
 * fits when the room after the need is at least the margin (like the local pre-flight check) and
 * it stays below CRITICAL; it is tight when the need fits but eats into the margin or takes the
 * GPU to CRITICAL or above; there is no room below zero. The level the
 * GPU would reach is read against its thresholds. Stale hosts come last: their figures are old.
 */
import { rawLevel } from '../watch/classifier.ts';
import { levelRank, type Level } from '../watch/levels.ts';
import { resolveSize, type SizeSpec } from '../units.ts';
import type { FleetGpu, FleetHost, FleetThresholds } from './fleet-types.ts';

export type FitVerdict = 'fits' | 'tight' | 'no room' | 'stale';

export interface FleetPlace {
  host: string;
  gpu: number;
  name: string | null;
  usedBytes: number;
  totalBytes: number;
  freeBytes: number;
  /** Free bytes after the need (negative: it does not fit). */
  roomAfterBytes: number;
  marginBytes: number;
  thresholds: FleetThresholds;
  thresholdsFrom: FleetGpu['thresholdsFrom'];
  levelNow: Level;
  levelAfter: Level;
  verdict: FitVerdict;
  staleSince: number | null;
}

const ORDER: Record<FitVerdict, number> = { fits: 0, tight: 1, 'no room': 2, stale: 3 };

export function rankFleet(hosts: readonly FleetHost[], needBytes: number, margin: SizeSpec): FleetPlace[] {
  const places: FleetPlace[] = [];
  for (const host of hosts) {
    for (const g of host.gpus) {
      const free = g.freeBytes;
      const roomAfter = free - needBytes;
      const marginBytes = resolveSize(margin, g.totalBytes);
      const levelAfter = rawLevel(g.usedBytes + needBytes, { ...g.thresholds, hysteresis: 0 });
      const verdict: FitVerdict = host.stale
        ? 'stale'
        : roomAfter < 0
          ? 'no room'
          : roomAfter < marginBytes || levelRank(levelAfter) >= levelRank('critical')
            ? 'tight'
            : 'fits';
      places.push({
        host: host.name,
        gpu: g.index,
        name: g.name,
        usedBytes: g.usedBytes,
        totalBytes: g.totalBytes,
        freeBytes: free,
        roomAfterBytes: roomAfter,
        marginBytes,
        thresholds: g.thresholds,
        thresholdsFrom: g.thresholdsFrom,
        levelNow: g.level,
        levelAfter,
        verdict,
        staleSince: host.stale ? host.stale.since : null,
      });
    }
  }
  return places.sort((a, b) => ORDER[a.verdict] - ORDER[b.verdict] || b.roomAfterBytes - a.roomAfterBytes || a.host.localeCompare(b.host) || a.gpu - b.gpu);
}
