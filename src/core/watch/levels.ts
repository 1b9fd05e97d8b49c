/** Pressure levels, in increasing order. */
export const LEVELS = ['ok', 'warning', 'critical', 'emergency'] as const;
export type Level = (typeof LEVELS)[number];

export function levelRank(level: Level): number {
  return LEVELS.indexOf(level);
}

export function worstLevel(levels: Iterable<Level>): Level {
  let worst: Level = 'ok';
  for (const l of levels) if (levelRank(l) > levelRank(worst)) worst = l;
  return worst;
}

export function levelLabel(level: Level): string {
  return level.toUpperCase();
}
