/**
 * Which level transitions deserve a notification: rising to CRITICAL or EMERGENCY (and WARNING if
 * asked), at most once per GPU per interval — unless the level rose above the last one notified.
 */
import { levelRank, type Level } from './levels.ts';
import type { LevelTransition } from './classifier.ts';

export interface AlertPolicyOptions {
  notifyOnWarning: boolean;
  minIntervalMs: number;
}

export class AlertPolicy {
  private readonly last = new Map<string, { at: number; level: Level }>();
  options: AlertPolicyOptions;

  constructor(options: AlertPolicyOptions) {
    this.options = options;
  }

  shouldNotify(t: LevelTransition): boolean {
    if (levelRank(t.to) <= levelRank(t.from)) return false;
    const floor = this.options.notifyOnWarning ? 'warning' : 'critical';
    if (levelRank(t.to) < levelRank(floor)) return false;
    const key = t.uuid ?? String(t.gpu);
    const prev = this.last.get(key);
    const escalated = !prev || levelRank(t.to) > levelRank(prev.level);
    if (!escalated && t.timestamp - prev.at < this.options.minIntervalMs) return false;
    this.last.set(key, { at: t.timestamp, level: t.to });
    return true;
  }
}
