/**
 * The parts every one-line notification is made of (a sentence under MAX_LINE characters, names cut
 * to fit) and the gate's refusal line. Apart from one-line.ts so the VRAM gate reads it without
 * reaching the reports that speak of checks and spikes.
 */
import type { CheckResult } from '../check-result.ts';
import { formatGiB } from '../units.ts';
import { levelLabel, type Level } from '../watch/levels.ts';

/** A notification's text stays under this many characters (VS Code's box shows about that much). */
export const MAX_LINE = 160;
/** A name inside a line (a task, a model) is cut to this many characters. */
const MAX_NAME = 48;

/** Whitespace folded to single spaces; cut at a word with "…" so the text stays under `max` characters. */
export function clip(text: string, max = MAX_LINE - 1): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max * 0.6 ? cut.slice(0, space) : cut).replace(/[\s,;:.—-]+$/, '')}…`;
}

/** The first sentence of a text (up to ". " or the end), without its full stop. */
export function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const m = /^(.+?[^.\s][.!?])(?:\s|$)/.exec(flat);
  return (m?.[1] ?? flat).replace(/[.!?]$/, '');
}

/** A sentence from parts: the last part is cut so the whole stays under MAX_LINE, then a full stop. */
export function sentence(head: string, tail = ''): string {
  const room = MAX_LINE - 2 - head.length;
  const text = tail ? `${head}${clip(tail, Math.max(20, room))}` : clip(head, MAX_LINE - 2);
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

export const name = (n: string) => clip(n, MAX_NAME);

export const dataNumber = (c: CheckResult | undefined, key: string): number | null => {
  const v = c?.data?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/**
 * The gate refused a task: the shortfall when free memory is what is short, else the level it
 * would reach, else the first failing check's first sentence.
 */
export function gateRefusalLine(taskName: string, checks: readonly CheckResult[]): string {
  const task = name(taskName);
  const free = checks.find((c) => (c.id.endsWith('.free') || c.id.endsWith('vramGate')) && c.status === 'fail');
  const freeBytes = dataNumber(free, 'freeBytes');
  const needBytes = dataNumber(free, 'needBytes') ?? dataNumber(free, 'needsBytes');
  if (free && freeBytes !== null && needBytes !== null) {
    const margin = dataNumber(free, 'marginBytes') ?? 0;
    const shortBytes = needBytes > freeBytes ? needBytes - freeBytes : needBytes + margin - freeBytes;
    const why = needBytes > freeBytes ? 'short' : `short with the ${formatGiB(margin)} margin`;
    return `Not started: ${task} needs ${formatGiB(needBytes)}, ${formatGiB(freeBytes)} is free (${formatGiB(shortBytes)} ${why}).`;
  }
  const level = checks.find((c) => c.id === 'preflight.level' && c.status === 'fail');
  const projected = dataNumber(level, 'projectedBytes');
  const reached = level?.data?.level as Level | undefined;
  const total = dataNumber(level, 'totalBytes');
  if (level && projected !== null && reached) {
    const of = total !== null ? ` of ${formatGiB(total)}` : '';
    return `Not started: ${task} would take the GPU to ${levelLabel(reached)} (${formatGiB(projected)}${of} used).`;
  }
  const failed = checks.find((c) => c.status === 'fail');
  return sentence(`Not started: ${task}: `, failed ? firstSentence(failed.detail) : 'the VRAM gate refused it');
}
