/** The "GPU Details" document: every GPU, every process, the source and the recent level changes. */
import { formatMiB } from '../units.ts';
import type { LevelTransition } from '../watch/classifier.ts';
import { levelLabel } from '../watch/levels.ts';
import type { SourceStatus, WatchedSample } from '../watch/watcher.ts';
import { samplesMarkdown } from './gpu-summary.ts';

export interface DetailsInput {
  status: SourceStatus;
  latest: WatchedSample | null;
  transitions: readonly LevelTransition[];
  settingsProblems: readonly string[];
}

export function detailsMarkdown(input: DetailsInput): string {
  const out: string[] = ['# VRAM Guard — GPU details', ''];
  const { status, latest } = input;
  if (status.state === 'none') {
    out.push(
      '**No GPU to watch.**',
      '',
      status.reason,
      '',
      'VRAM Guard looks again every 30 seconds. To point it at a library, set `vramGuard.nvmlLibraryPath`.',
    );
  } else if (status.state === 'probing' || !latest) {
    out.push('Looking for a GPU…');
  } else {
    const s = latest.sample;
    if (status.source.kind === 'replay') out.push('> **Simulated GPU**: these figures replay a recorded trace.', '');
    out.push(`Source: ${status.source.description}`, '');
    out.push(`Sampled at ${new Date(s.timestamp).toISOString()} · driver ${s.driverVersion ?? 'unknown'}`, '');
    out.push(samplesMarkdown(latest, Number.POSITIVE_INFINITY));
  }
  if (input.transitions.length) {
    out.push('', '## Recent level changes', '', '| Time | GPU | From | To | Used |', '|---|---:|---|---|---:|');
    for (const t of [...input.transitions].reverse()) {
      out.push(`| ${new Date(t.timestamp).toISOString()} | ${t.gpu} | ${levelLabel(t.from)} | ${levelLabel(t.to)} | ${formatMiB(t.usedBytes)} |`);
    }
  }
  if (input.settingsProblems.length) {
    out.push('', '## Settings problems', '', ...input.settingsProblems.map((p) => `- ${p}`));
  }
  return `${out.join('\n')}\n`;
}
