/**
 * Turns used bytes into a level, with hysteresis: a level is entered when usage reaches its
 * threshold, and left only when usage falls the hysteresis below it. So a GPU hovering at a
 * threshold does not flap.
 */
import { LEVELS, levelRank, type Level } from './levels.ts';
import type { ResolvedThresholds } from './thresholds.ts';

/** The level usage reaches, ignoring history. */
export function rawLevel(used: number, t: ResolvedThresholds): Level {
  if (used >= t.emergency) return 'emergency';
  if (used >= t.critical) return 'critical';
  if (used >= t.warning) return 'warning';
  return 'ok';
}

export function thresholdOf(level: Level, t: ResolvedThresholds): number {
  switch (level) {
    case 'warning':
      return t.warning;
    case 'critical':
      return t.critical;
    case 'emergency':
      return t.emergency;
    default:
      return 0;
  }
}

/** The next level given the current one: up at once, down only past the hysteresis. */
export function nextLevel(current: Level, used: number, t: ResolvedThresholds): Level {
  const raw = rawLevel(used, t);
  if (levelRank(raw) >= levelRank(current)) return raw;
  for (let rank = levelRank(current); rank > levelRank(raw); rank--) {
    const level = LEVELS[rank];
    if (level === undefined) break;
    if (used > thresholdOf(level, t) - t.hysteresis) return level;
  }
  return raw;
}

export interface LevelTransition {
  timestamp: number;
  gpu: number;
  uuid: string | null;
  from: Level;
  to: Level;
  usedBytes: number;
  totalBytes: number;
}
