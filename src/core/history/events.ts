/** What the history records from the rest of VRAM Guard: watcher samples, level changes, fallback steps, cascades. */
import { eventText as fallbackText, type FallbackEvent } from '../fallback/events.ts';
import type { GpuSample } from '../gpu/types.ts';
import { formatMiB } from '../units.ts';
import type { LevelTransition } from '../watch/classifier.ts';
import type { HistoryEvent, HistorySample, SystemMemory } from './types.ts';
import { levelLabel, type Level } from '../watch/levels.ts';
import type { ServerCascade } from '../servers/server-registry.ts';

/** A history sample from a GPU sample: every device with a memory reading. */
export function historySampleOf(sample: GpuSample, system: SystemMemory | null): HistorySample {
  const gpus = [];
  for (const d of sample.devices) if (d.memory) gpus.push({ gpu: d.index, used: d.memory.used, total: d.memory.total });
  return { t: sample.timestamp, gpus, system };
}

export function transitionEvent(t: LevelTransition): HistoryEvent {
  return {
    t: t.timestamp,
    kind: 'transition',
    gpu: t.gpu,
    text: `GPU ${t.gpu}: ${levelLabel(t.from)} → ${levelLabel(t.to)} at ${formatMiB(t.usedBytes)} of ${formatMiB(t.totalBytes)}`,
    level: t.to,
    usedBefore: t.usedBytes,
    usedAfter: null,
  };
}

/**
 * A fallback step that ran, failed, was skipped or declined, marked when it started (the chain
 * records it after the settle wait). Dry runs never reach the history: the chain does not record them.
 */
export function fallbackEvent(e: FallbackEvent): HistoryEvent {
  return { t: e.time - e.durationMs, kind: 'fallback', gpu: e.gpu, text: fallbackText(e), level: e.level, usedBefore: e.usedBefore, usedAfter: e.usedAfter };
}

/** A task or model server that started, became ready, stopped or failed. */
export function taskEvent(t: number, name: string, state: string, gpu: number | null): HistoryEvent {
  return { t, kind: 'task', gpu, text: `${name}: ${state}`, level: null, usedBefore: null, usedAfter: null };
}

/** The GPU's level and memory when something happened; null when it was not read. */
export interface GpuMoment {
  level: Level;
  used: number;
  total: number;
}

/** A CUDA-error cascade in a server's output, marked when it was declared, with the GPU's level and VRAM then. */
export function cascadeEvent(c: ServerCascade, at: GpuMoment | null): HistoryEvent {
  const rate = `${c.cascade.errors} CUDA error lines, ${c.cascade.perSecond.toFixed(0)} a second`;
  const gpu = at ? ` · GPU ${c.gpu} ${levelLabel(at.level)} at ${formatMiB(at.used)} of ${formatMiB(at.total)}` : '';
  return {
    t: c.cascade.detectedAt,
    kind: 'cascade',
    gpu: c.gpu,
    text: `${c.server} (PID ${c.pid ?? '?'}): cascade, ${rate}${gpu}`,
    level: at?.level ?? null,
    usedBefore: at?.used ?? null,
    usedAfter: null,
  };
}
