/** What the history keeps: GPU memory and system memory over time, and the events shown on the chart. */
import type { Level } from '../watch/levels.ts';

export interface HistoryGpuReading {
  gpu: number;
  /** Bytes. */
  used: number;
  total: number;
}

/** System RAM and swap (bytes), beside VRAM: an OOM cascade moves into them. */
export interface SystemMemory {
  ramUsed: number;
  ramTotal: number;
  swapUsed: number;
  swapTotal: number;
}

export interface HistorySample {
  /** Milliseconds since the epoch. */
  t: number;
  gpus: HistoryGpuReading[];
  system: SystemMemory | null;
}

export const HISTORY_EVENT_KINDS = ['transition', 'fallback', 'task', 'spike', 'note', 'cascade'] as const;
export type HistoryEventKind = (typeof HISTORY_EVENT_KINDS)[number];

/** A marker on the chart: a level change, a fallback step, a task start/stop, a budget spike stage, a CUDA-error cascade. */
export interface HistoryEvent {
  t: number;
  kind: HistoryEventKind;
  /** The GPU it concerns; null for every GPU. */
  gpu: number | null;
  /** One line, shown on hover. */
  text: string;
  /** The level after a transition, or the level when a fallback step ran. */
  level: Level | null;
  /** Used VRAM before and after (bytes), when the event moved memory. */
  usedBefore: number | null;
  usedAfter: number | null;
}

export type HistoryRecord = { type: 'sample'; sample: HistorySample } | { type: 'event'; event: HistoryEvent };
