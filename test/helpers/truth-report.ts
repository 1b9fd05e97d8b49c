/**
 * docs/estimate-accuracy.md: the truth set's table, per case and part, predicted beside printed with
 * the error, the worst case, and the known misses with their reasons. Rendered by
 * `node scripts/estimate-accuracy.ts`; the truth-set test fails when the committed page differs.
 */
import { join } from 'node:path';
import { repoRoot } from './fake-nvml.ts';
import type { CaseResult, PartResult } from './truth-set.ts';
import { MiB } from '../../src/core/units.ts';

export const ACCURACY_DOC = join(repoRoot, 'docs', 'estimate-accuracy.md');

const mib = (b: number) => (b / MiB).toFixed(2);
const signed = (b: number) => `${b >= 0 ? '+' : '−'}${Math.abs(b / MiB).toFixed(2)}`;
const pct = (p: PartResult) =>
  p.printedBytes === 0 ? '—' : `${p.predictedBytes >= p.printedBytes ? '+' : '−'}${Math.abs((p.predictedBytes / p.printedBytes - 1) * 100).toFixed(1)}%`;

/** The claimed part with the largest error relative to its tolerance. */
export function worstPart(results: CaseResult[]): { result: CaseResult; part: PartResult } | null {
  let worst: { result: CaseResult; part: PartResult } | null = null;
  for (const r of results) {
    if (r.truthCase.knownMiss) continue;
    for (const p of r.parts) {
      const ratio = Math.abs(p.predictedBytes - p.printedBytes) / p.toleranceBytes;
      if (!worst || ratio > Math.abs(worst.part.predictedBytes - worst.part.printedBytes) / worst.part.toleranceBytes) worst = { result: r, part: p };
    }
  }
  return worst;
}

export function worstSentence(results: CaseResult[]): string {
  const w = worstPart(results);
  if (!w) return 'no case';
  return `${w.result.truthCase.id}, ${w.part.part}: ${mib(w.part.predictedBytes)} MiB predicted for ${mib(w.part.printedBytes)} MiB printed (${signed(w.part.predictedBytes - w.part.printedBytes)} MiB, ${pct(w.part)}; the target allows ±${mib(w.part.toleranceBytes)} MiB)`;
}

export function renderAccuracyDoc(results: CaseResult[]): string {
  const claimed = results.filter((r) => !r.truthCase.knownMiss);
  const misses = results.filter((r) => r.truthCase.knownMiss);
  const lines: string[] = [
    '# Estimate accuracy',
    '',
    'The GGUF estimate checked against what llama.cpp printed when it loaded the same model with the',
    'same settings. Each case is a published load log kept in `test/fixtures/estimate-truth/` with',
    'its source and the exact lines; the model is rebuilt as a shape-only GGUF (tensor names, shapes',
    'and types, no weights) and run through the real reader and estimate.',
    '',
    'Target per part (weights on the GPU, KV cache, recurrent state, compute buffer, projector):',
    'within max(5 %, 64 MiB) of the printed figure; the total of the compared parts within',
    'max(5 %, 128 MiB). `npm test` holds every claimed case to the target (test/unit/estimate/truth-set.test.ts);',
    '`node scripts/estimate-accuracy.ts` rewrites this page.',
    '',
    `**Worst case:** ${worstSentence(results)}.`,
    '',
    '| Case | Part | Printed (MiB) | Predicted (MiB) | Error (MiB) | Error | Within target |',
    '| --- | --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of claimed) {
    for (const p of r.parts)
      lines.push(
        `| ${r.truthCase.id} | ${p.part} | ${mib(p.printedBytes)} | ${mib(p.predictedBytes)} | ${signed(p.predictedBytes - p.printedBytes)} | ${pct(p)} | ${p.ok ? 'yes' : '**no**'} |`,
      );
  }
  lines.push('', '## Cases', '');
  for (const r of results) {
    const c = r.truthCase;
    lines.push(`### ${c.id}${c.knownMiss ? ' (known miss)' : ''}`, '', c.title, '');
    lines.push(`- Covers: ${c.covers.join(', ')}.`);
    lines.push(`- Source: ${c.source.ref.startsWith('https://') ? `<${c.source.ref}>` : c.source.ref} (${c.source.date}).`);
    lines.push(`- Command: \`${c.command}\``);
    if (r.assumptions.length) lines.push(`- The estimate assumed: ${r.assumptions.join(', ')}.`);
    if (c.partsNote) lines.push(`- Compared: ${c.partsNote}`);
    lines.push(`- Model: ${c.reconstruction}`);
    if (c.knownMiss) lines.push(`- Known miss: ${c.knownMiss}`);
    lines.push('');
  }
  if (misses.length) {
    lines.push('## Known misses', '', '| Case | Part | Printed (MiB) | Predicted (MiB) | Why |', '| --- | --- | ---: | ---: | --- |');
    for (const r of misses)
      for (const p of r.parts) lines.push(`| ${r.truthCase.id} | ${p.part} | ${mib(p.printedBytes)} | ${mib(p.predictedBytes)} | ${r.truthCase.knownMiss} |`);
    lines.push('');
  }
  return lines.join('\n');
}
