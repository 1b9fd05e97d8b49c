/** The audit record of the fallback chain: one event per step considered, run, declined or dry-run. */
import { formatMiB } from '../units.ts';
import { levelLabel, type Level } from '../watch/levels.ts';
import type { FallbackAction, FallbackMode } from '../servers/fallback-steps.ts';

export interface FallbackEvent {
  /** Milliseconds since the epoch, from the chain's clock. */
  time: number;
  gpu: number;
  /** The GPU's level when the step was chosen. */
  level: Level;
  /** Index of the step in the chain, and its label. */
  step: number;
  label: string;
  action: FallbackAction;
  target: string | null;
  mode: FallbackMode;
  /** How the step came to be considered: a trigger, a person (command/UI), or a dry run. */
  origin: 'auto' | 'manual' | 'dry-run';
  result: 'done' | 'failed' | 'skipped' | 'declined' | 'would-run' | 'would-skip';
  message: string;
  usedBefore: number;
  /** After the step and the settle wait; null when nothing ran. */
  usedAfter: number | null;
  totalBytes: number;
  durationMs: number;
}

export function eventText(e: FallbackEvent): string {
  const after = e.usedAfter !== null ? ` → ${formatMiB(e.usedAfter)}` : '';
  return `fallback ${e.result.toUpperCase()} · GPU ${e.gpu} ${levelLabel(e.level)} · step ${e.step + 1} ${e.label} (${e.origin === 'auto' ? 'triggered' : e.origin}, ${e.mode} mode)${e.target ? ` on ${e.target}` : ''}: ${e.message} · ${formatMiB(e.usedBefore)}${after} of ${formatMiB(e.totalBytes)}${e.durationMs ? ` · ${(e.durationMs / 1000).toFixed(1)} s` : ''}`;
}
