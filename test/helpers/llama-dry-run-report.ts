/**
 * docs/llama-dry-run-matrix.md: the dry-run matrix's table, per architecture and setting, llama.cpp's
 * figure beside the estimate's with the error, part by part. Rendered by
 * `npm run docs:dry-run-matrix`; the matrix test fails when the committed page differs.
 */
import { join } from 'node:path';
import { MiB } from '../../src/core/units.ts';
import { repoRoot } from './fake-nvml.ts';
import { caseText, COMPUTE_BOUND, COUNT_PARTS, HELD_PARTS, type CaseComparison, type PartComparison } from './llama-dry-run-matrix.ts';
import { PROJECTOR_SHAPES, SHAPE_MODELS } from './llama-shapes/architectures.ts';

export const DRY_RUN_DOC = join(repoRoot, 'docs', 'llama-dry-run-matrix.md');

const mib = (b: number) => (b / MiB).toFixed(2);
const figure = (p: PartComparison, b: number) => (p.part === 'output layer on device' ? (b ? 'yes' : 'no') : COUNT_PARTS.includes(p.part) ? String(b) : mib(b));
const error = (p: PartComparison) => {
  if (p.part === 'output layer on device') return p.ours === p.llama ? '—' : 'differs';
  if (COUNT_PARTS.includes(p.part)) return p.ours === p.llama ? '0' : `${p.ours - p.llama > 0 ? '+' : '−'}${Math.abs(p.ours - p.llama)}`;
  const d = p.ours - p.llama;
  const pct = p.llama === 0 ? '' : ` (${d >= 0 ? '+' : '−'}${Math.abs((d / p.llama) * 100).toFixed(1)} %)`;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d / MiB).toFixed(2)}${pct}`;
};

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? 0 : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The largest held error relative to its tolerance, in words. */
export function worstHeld(results: readonly CaseComparison[]): string {
  let worst: { r: CaseComparison; p: PartComparison; ratio: number } | null = null;
  for (const r of results)
    for (const p of r.parts) {
      if (!HELD_PARTS.includes(p.part) || COUNT_PARTS.includes(p.part)) continue;
      const ratio = Math.abs(p.ours - p.llama) / p.tolerance;
      if (!worst || ratio > worst.ratio) worst = { r, p, ratio };
    }
  if (!worst) return 'none';
  const { r, p } = worst;
  return `${r.c.projector?.id ?? r.c.shape.id} \`${caseText(r.c)}\`, ${p.part}: ${mib(p.ours)} MiB estimated for ${mib(p.llama)} MiB (${error(p)}; allowed ±${mib(p.tolerance)} MiB)`;
}

export interface ComputeStats {
  readonly compared: number;
  readonly medianRatio: number;
  readonly minRatio: number;
  readonly maxRatio: number;
  readonly notHeld: number;
}

export function computeStats(results: readonly CaseComparison[]): ComputeStats {
  const ratios: number[] = [];
  let notHeld = 0;
  for (const r of results)
    for (const p of r.parts) {
      if (p.part !== 'compute (device)') continue;
      if (p.notHeld) notHeld++;
      else if (p.llama > 0) ratios.push(p.ours / p.llama);
    }
  return { compared: ratios.length, medianRatio: median(ratios), minRatio: Math.min(...ratios), maxRatio: Math.max(...ratios), notHeld };
}

export function renderDryRunDoc(results: readonly CaseComparison[], cudaSection: readonly string[] = []): string {
  const stats = computeStats(results);
  const lines: string[] = [
    "# The estimate against llama.cpp's dry run",
    '',
    'Every part of the estimate checked against the real llama.cpp (the version `npm run setup:llama`',
    'fetches), on every test run: generated models of twelve architectures, each under 15 to 25',
    'llama-server settings, and two vision projectors (`--mmproj`), sized by llama.cpp itself without',
    'allocating anything — its no-allocation dry run (`no_alloc`, as `--fit` probes memory) on a',
    "GPU-like device, Mesa's software Vulkan device (lavapipe), so no GPU is needed. The tool",
    "(`test/tools/llama-dry-run.cpp`) parses llama-server's own arguments with llama.cpp's parser,",
    "applies llama-server's defaults and prints what each buffer type would hold; the estimate reads",
    'the same arguments with its own parser.',
    '',
    'The `-ts` cases run over two devices: lavapipe opened twice (`GGML_VK_VISIBLE_DEVICES=0,0`),',
    "as two GPUs (Vulkan0, Vulkan1). Each device's weights, KV cache and layers are held; its compute",
    "buffer only where pipeline parallelism is off (not every layer on the devices): with it, ggml's",
    'scheduler keeps copies of the inputs per device that the estimate does not count. With',
    '`--spec-type draft-mtp`, the MTP draft context llama-server creates is sized too: its KV cache',
    'held, its compute buffer set beside it.',
    '',
    '- **Held** (the matrix test fails beyond the bound): the weights on the device and on the host,',
    "  the KV cache and the recurrent state on the device, the projector's weights on the device —",
    '  within max(1 %, 16 MiB) of llama.cpp — and the number of layers on the device and whether the',
    '  output layer is there (exactly).',
    "- **Compute buffers** (the model's and the projector's): backend-specific. The estimate sizes",
    `  CUDA's; the dry run sizes Vulkan's. They are held only within ${COMPUTE_BOUND}× either way, and only where`,
    '  both resolve flash attention the same way, a layer is on the device and the device runs most of',
    "  the projector's graph itself; the other rows show them unheld with the reason.",
    '',
    "The models (`test/helpers/llama-shapes/architectures.ts`) follow llama.cpp's loaders (tensor",
    'names, shapes, metadata keys) with a real SentencePiece vocabulary and no weights (sparse files).',
    '`npm run docs:dry-run-matrix` rewrites this page; `test/unit/estimate/llama-dry-run-matrix.test.ts`',
    'fails when it differs, so a llama.cpp upgrade shows its drift as a failing test.',
    '',
    `**Cases:** ${results.length}. **Worst held part:** ${worstHeld(results)}.`,
    '',
    `**The model's compute buffer:** where it is held (${stats.compared} cases), the estimate's (CUDA's) is`,
    `${stats.medianRatio.toFixed(2)}× the Vulkan dry run's at the median (${stats.minRatio.toFixed(2)}× to ${stats.maxRatio.toFixed(2)}×); ${stats.notHeld} cases show it unheld.`,
    '',
    '## Architectures',
    '',
    '| Shape | Architecture | Layers | What it exercises |',
    '| --- | --- | ---: | --- |',
    ...SHAPE_MODELS.map((s) => `| ${s.id} | ${s.arch} | ${s.layers} | ${s.covers} |`),
    ...PROJECTOR_SHAPES.map((p) => `| ${p.id} | clip (with ${p.textModel}) | — | ${p.covers} |`),
    '',
  ];
  if (cudaSection.length) lines.push(...cudaSection, '');
  lines.push('## The matrix', '', 'Sizes in MiB; the error is the estimate minus llama.cpp.', '');
  const groups = [
    ...SHAPE_MODELS.map((s) => ({ id: s.id, rows: results.filter((r) => r.c.shape.id === s.id && !r.c.projector) })),
    ...PROJECTOR_SHAPES.map((p) => ({ id: p.id, rows: results.filter((r) => r.c.projector?.id === p.id) })),
  ];
  for (const { id, rows } of groups) {
    if (!rows.length) continue;
    lines.push(`### ${id}`, '', '| Settings | Part | llama.cpp | Estimate | Error | Held |', '| --- | --- | ---: | ---: | ---: | --- |');
    for (const r of rows) {
      for (const p of r.parts) {
        const held = p.notHeld ? `no: ${p.notHeld}` : p.ok ? 'yes' : '**out of bounds**';
        lines.push(`| \`${caseText(r.c)}\` | ${p.part} | ${figure(p, p.llama)} | ${figure(p, p.ours)} | ${error(p)} | ${held} |`);
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}
