/** The echo-cancellation report as Markdown (for people) and JSON (for scripts). */
import { CHECK_STATUS_LABEL, type CheckStatus } from '../check-result.ts';
import { formatToString } from './audio-format.ts';
import type { AecReport } from './verify.ts';
import { markdownCell } from '../report/markdown.ts';

const verdict: Record<CheckStatus, string> = {
  pass: 'Every check passed.',
  warn: 'It works, with warnings.',
  fail: 'At least one check failed.',
  unavailable: 'Not available here.',
};

export function renderMarkdown(report: AecReport): string {
  const lines: string[] = [];
  lines.push('# Echo-cancellation check', '');
  lines.push(`**${CHECK_STATUS_LABEL[report.status]}** — ${verdict[report.status]}`, '');
  lines.push(`- Source: \`${report.sourceName}\``);
  lines.push(`- Format: ${formatToString(report.format)}, ${report.recordSeconds} s`);
  if (report.pipewireVersion) lines.push(`- PipeWire: ${report.pipewireVersion}`);
  lines.push(`- Checked: ${report.createdAt}`);
  for (const p of report.settingsProblems) lines.push(`- Setting ignored (the default is used): ${p}`);
  lines.push('');
  lines.push('| # | Check | Result | Details |', '|---|---|---|---|');
  report.checks.forEach((c, i) => {
    lines.push(`| ${i + 1} | ${markdownCell(c.title)} | ${CHECK_STATUS_LABEL[c.status]} | ${markdownCell(c.detail)} |`);
  });
  const todo = report.checks.filter((c) => c.status !== 'pass' && c.advice);
  if (todo.length > 0) {
    lines.push('', '## What to do', '');
    for (const c of todo) lines.push(`- **${c.title}:** ${c.advice}`);
  }
  if (!report.echoTest && report.available) {
    lines.push('', '_The echo test (test noise on the default output) was not run; run it with `vram-guard aec --echo-test` or the "Run echo test" button._');
  }
  return `${lines.join('\n')}\n`;
}

export function renderJson(report: AecReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
