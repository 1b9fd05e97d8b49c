/**
 * The first line of a GPU's card: its verdict in words — the level, and what the trend says once it
 * has enough history. One function, so a richer trend analysis can replace the trend part alone.
 */
import type { Level } from '../src/core/watch/levels.ts';
import type { TrendView } from './chart-model.ts';

const LEVEL_WORDS: Record<Level, string> = {
  ok: 'OK, room to spare',
  warning: 'WARNING, little room for another model',
  critical: 'CRITICAL, close to out of memory',
  emergency: 'EMERGENCY, out of memory is near',
};

/** "CRITICAL, close to out of memory · growing 120 MiB/h: OOM in about 2 h at this rate". */
export function cardVerdict(level: Level | null, trend: Pick<TrendView, 'text'> | null): string {
  const head = level ? LEVEL_WORDS[level] : 'No reading yet';
  return trend ? `${head} · ${trend.text}` : head;
}
