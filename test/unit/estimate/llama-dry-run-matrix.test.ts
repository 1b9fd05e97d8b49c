/**
 * The estimate against the real llama.cpp: every generated architecture under every setting of the
 * matrix, sized by llama.cpp's no-allocation dry run on Mesa's software Vulkan device and by the
 * estimate. Each held part (weights on the device and the host, KV cache, recurrent state, layers on
 * the device) must be within max(1 %, 16 MiB) of llama.cpp; the compute buffer within the loose
 * backend bound where comparable. docs/llama-dry-run-matrix.md must be the table these results give.
 * Needs `npm run setup:llama` (the dry-run tool): without it every test fails saying so.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { MiB } from '../../../src/core/units.ts';
import { cudaComputeSection } from '../../helpers/llama-dry-run-cuda.ts';
import { COUNT_PARTS, caseText, matrixCases, runMatrix, type CaseComparison, type MatrixPart } from '../../helpers/llama-dry-run-matrix.ts';
import { DRY_RUN_DOC, renderDryRunDoc } from '../../helpers/llama-dry-run-report.ts';
import { SHAPE_MODELS } from '../../helpers/llama-shapes/architectures.ts';

const cases = matrixCases();
let results: CaseComparison[] | null = null;
let failure: Error | null = null;
try {
  results = await runMatrix(cases);
} catch (err) {
  failure = err as Error;
}

test('the matrix covers at least ten architectures and 150 settings', () => {
  assert.ok(SHAPE_MODELS.length >= 10, `only ${SHAPE_MODELS.length} architectures`);
  assert.ok(cases.length >= 150, `only ${cases.length} cases`);
  assert.equal(new Set(cases.map((c) => c.shape.id)).size, SHAPE_MODELS.length, 'every architecture has cases');
  assert.ok(
    cases.some((c) => c.projector),
    'a vision projector has cases',
  );
});

for (const [i, c] of cases.entries()) {
  test(`${c.projector?.id ?? c.shape.id} ${caseText(c)}: every held part within max(1 %, 16 MiB) of llama.cpp's dry run`, () => {
    if (failure) throw failure;
    const r = results![i]!;
    const bad = r.parts.filter((p) => !p.ok);
    const mib = (b: number) => (p: { part: MatrixPart }) => (COUNT_PARTS.includes(p.part) ? String(b) : `${(b / MiB).toFixed(2)} MiB`);
    assert.deepEqual(
      bad.map((p) => `${p.part}: llama.cpp ${mib(p.llama)(p)}, the estimate ${mib(p.ours)(p)} (allowed ±${mib(p.tolerance)(p)})`),
      [],
      `${c.projector ? `${c.projector.id} with ` : ''}${c.shape.arch} with ${caseText(c)}`,
    );
  });
}

test('docs/llama-dry-run-matrix.md is the table of these results (npm run docs:dry-run-matrix rewrites it)', async () => {
  if (failure) throw failure;
  const committed = await readFile(DRY_RUN_DOC, 'utf8').catch(() => '');
  assert.equal(committed, `${renderDryRunDoc(results!, await cudaComputeSection())}\n`);
});
