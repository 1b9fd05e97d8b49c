/** The fallback chain as Markdown: a dry run's plan, and the recent actions, for the details view. */
import { formatMiB } from '../units.ts';
import { levelLabel } from '../watch/levels.ts';
import type { FallbackEvent } from './events.ts';
import { markdownCell } from '../report/markdown.ts';

export function dryRunMarkdown(events: FallbackEvent[], when: Date): string {
  const lines = [`# Fallback chain — dry run`, '', `${when.toISOString()} · nothing was done.`, ''];
  if (!events.length) return [...lines, 'No steps are configured (`vramGuard.fallbackChain`), or no GPU has been read yet.'].join('\n');
  lines.push('| GPU | Step | Mode | What would happen |', '|---|---|---|---|');
  for (const e of events)
    lines.push(
      `| ${e.gpu} · ${levelLabel(e.level)} · ${formatMiB(e.usedBefore)} of ${formatMiB(e.totalBytes)} | ${e.step + 1}. ${markdownCell(e.label)} | ${e.mode} | ${markdownCell(e.message)} |`,
    );
  return lines.join('\n');
}

export function actionsMarkdown(events: FallbackEvent[]): string {
  if (!events.length) return 'No fallback step has run.';
  const lines = ['| Time | GPU | Level | Step | Target | Result | Before → after |', '|---|---|---|---|---|---|---|'];
  for (const e of events) {
    lines.push(
      `| ${new Date(e.time).toISOString()} | ${e.gpu} | ${levelLabel(e.level)} | ${e.step + 1}. ${markdownCell(e.label)} | ${markdownCell(e.target ?? '—')} | ${e.result}: ${markdownCell(e.message)} | ${formatMiB(e.usedBefore)} → ${e.usedAfter === null ? '—' : formatMiB(e.usedAfter)} |`,
    );
  }
  return lines.join('\n');
}
