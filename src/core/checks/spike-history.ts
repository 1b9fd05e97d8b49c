/**
 * The budget spike's stages as history events, so the dashboard's chart marks them: baseline, each
 * server starting, warming up and settling, the concurrent load, each stop, and the end.
 */
import type { HistoryEvent } from '../history/types.ts';
import type { SpikeProgress } from './spike.ts';

/** One stage as a chart marker on the GPU the spike measures. */
export function spikeStageEvent(t: number, gpu: number, progress: Pick<SpikeProgress, 'message'>): HistoryEvent {
  return { t, kind: 'spike', gpu, text: `budget spike: ${progress.message}`, level: null, usedBefore: null, usedAfter: null };
}
