/**
 * Near misses for a source name that does not exist: a source whose description is the name
 * asked for, the same name with underscores (or dashes) for spaces or another case, a name a
 * typo away, or any echo-cancelled source.
 */
import type { SourceInfo } from './pactl-json.ts';

export interface Suggestion {
  /** The exact name to use. */
  name: string;
  /** Why it is suggested, e.g. "its description is "Echo Cancellation Source"". */
  reason: string;
}

/** Lower case, with runs of spaces, underscores, dashes and dots made one space. */
export function normaliseName(s: string): string {
  return s
    .toLowerCase()
    .replace(/[\s_.-]+/g, ' ')
    .trim();
}

export function editDistance(a: string, b: string): number {
  // One row of the table, updated in place: row[k] is the distance from a's first i characters to
  // b's first k + 1 (the column for b's first 0 is i itself, carried in `left`).
  const row = Array.from({ length: b.length }, (_, k) => k + 1);
  let distance = b.length;
  for (let i = 1; i <= a.length; i++) {
    let diag = i - 1;
    let left = i;
    for (const [k, up] of row.entries()) {
      left = Math.min(up + 1, left + 1, diag + (a[i - 1] === b[k] ? 0 : 1));
      row[k] = left;
      diag = up;
    }
    distance = left;
  }
  return distance;
}

function isEchoCancelled(s: SourceInfo): boolean {
  return /echo[\s_.-]*cancel/i.test(s.name) || /echo[\s_.-]*cancel/i.test(s.description) || (s.properties['node.group'] ?? '').startsWith('echo-cancel');
}

/** Up to `max` suggestions, best first; none when the name exists exactly. */
export function suggestSources(wanted: string, sources: readonly SourceInfo[], max = 3): Suggestion[] {
  if (sources.some((s) => s.name === wanted)) return [];
  const target = normaliseName(wanted);
  const scored: { s: Suggestion; score: number }[] = [];
  for (const src of sources) {
    const norm = normaliseName(src.name);
    const dist = editDistance(target, norm);
    const limit = Math.max(2, Math.floor(target.length * 0.2));
    let score = Infinity;
    let reason = '';
    if (src.description === wanted) {
      score = 0;
      reason = `its description is "${wanted}"`;
    } else if (norm === target) {
      score = 1;
      reason = 'the same name with different case, spaces, underscores or dashes';
    } else if (normaliseName(src.description) === target) {
      score = 2;
      reason = `its description "${src.description}" differs only in case, spaces or underscores`;
    } else if (dist <= limit) {
      score = 3 + dist;
      reason = `${dist} character${dist === 1 ? '' : 's'} away from the name asked for`;
    } else if (isEchoCancelled(src) && src.monitorOfSink === null) {
      score = 50;
      reason = 'an echo-cancelled source';
    }
    if (Number.isFinite(score)) scored.push({ s: { name: src.name, reason }, score });
  }
  scored.sort((a, b) => a.score - b.score || a.s.name.localeCompare(b.s.name));
  return scored.slice(0, max).map((x) => x.s);
}
