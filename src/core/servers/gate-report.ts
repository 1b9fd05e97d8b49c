/**
 * The VRAM gate's full report, for "Show details" after a refusal: the one sentence the notification
 * showed, then the pre-flight's report (the need, the estimate, what would fit, every check), or the
 * checks alone for the stand-in gate.
 */
import { CHECK_STATUS_LABEL } from '../check-result.ts';
import { escapeMarkdown, markdownCell } from '../report/markdown.ts';
import type { GateResult } from './vram-gate.ts';

export function gateMarkdown(taskName: string, gate: GateResult): string {
  const lines = [`# VRAM gate: "${escapeMarkdown(taskName)}"`, ''];
  if (gate.headline) lines.push(`**${escapeMarkdown(gate.headline)}**`, '');
  if (gate.reportMarkdown) {
    // The pre-flight's own report, its title one level down.
    lines.push(gate.reportMarkdown.replace(/^# /, '## ').trimEnd());
    return `${lines.join('\n')}\n`;
  }
  lines.push(escapeMarkdown(gate.summary), '', '| Check | Result | Detail | What to do |', '|---|---|---|---|');
  for (const c of gate.checks)
    lines.push(`| ${markdownCell(c.title)} | ${CHECK_STATUS_LABEL[c.status]} | ${markdownCell(c.detail)} | ${markdownCell(c.advice)} |`);
  for (const d of gate.details ?? []) lines.push('', escapeMarkdown(d));
  return `${lines.join('\n')}\n`;
}
