/**
 * Whether a step's trigger is met on a GPU: a level reached, or used memory at or above a threshold.
 * A cascade trigger is never met by a reading: the chain runs it when a server's output cascades.
 */
import { resolveSize } from '../units.ts';
import { rawLevel } from '../watch/classifier.ts';
import { levelRank, type Level } from '../watch/levels.ts';
import type { ResolvedThresholds } from '../watch/thresholds.ts';
import type { Trigger } from '../servers/fallback-steps.ts';

/** The figures a step's trigger is judged on, for one GPU. */
export interface LevelReading {
  gpu: number;
  used: number;
  total: number;
  /** The GPU's level (the watcher's, with hysteresis; or raw from the thresholds after a step). */
  level: Level;
  thresholds: ResolvedThresholds | null;
}

/** The used bytes at which the trigger fires on this GPU; null when unknown (a level without thresholds). */
export function triggerBytes(trigger: Trigger, reading: LevelReading): number | null {
  if (trigger.kind === 'cascade') return null;
  if (trigger.kind === 'threshold') return resolveSize(trigger.threshold, reading.total);
  return reading.thresholds ? reading.thresholds[trigger.level] : null;
}

export function triggerFires(trigger: Trigger, reading: LevelReading): boolean {
  if (trigger.kind === 'cascade') return false;
  if (trigger.kind === 'threshold') return reading.used >= resolveSize(trigger.threshold, reading.total);
  return levelRank(reading.level) >= levelRank(trigger.level);
}

/** A fresh reading of used memory: the level without hysteresis, so a step that freed enough ends the chain. */
export function readingAfter(before: LevelReading, used: number): LevelReading {
  return { ...before, used, level: before.thresholds ? rawLevel(used, before.thresholds) : before.level };
}
