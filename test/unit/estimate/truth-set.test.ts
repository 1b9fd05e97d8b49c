/**
 * The truth set: every claimed case meets the target on every part it compares, with the numbers
 * llama.cpp printed; the rebuilt models match the tensor types the logs count; and
 * docs/estimate-accuracy.md is the table these results give.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ACCURACY_DOC, renderAccuracyDoc } from '../../helpers/truth-report.ts';
import { evaluateCase, graphEra, loadTruthCases, type CaseResult } from '../../helpers/truth-set.ts';
import { llamaGraphEra } from '../../../src/core/estimate/compute-buffer-size.ts';
import { offloadsOutputLayerFirst } from '../../../src/core/estimate/weights-placement.ts';
import { MiB } from '../../../src/core/units.ts';

const cases = await loadTruthCases();
const results: CaseResult[] = [];

test('the truth set holds at least 15 published cases, each with a source and the printed lines', () => {
  for (const c of cases) {
    assert.ok(c.source.ref.length > 0 && c.printed.length > 0, `${c.id} has no source or no printed lines`);
    assert.ok(c.parts.length > 0, `${c.id} compares no part`);
  }
  assert.ok(cases.length >= 15, `only ${cases.length} cases: ${cases.map((c) => c.id).join(', ')}`);
});

for (const c of cases) {
  test(`${c.id}: ${c.knownMiss ? 'known miss, recorded with its reason' : 'every part within the target'}`, async () => {
    const r = await evaluateCase(c);
    results.push(r);
    if (c.typeCounts) assert.deepEqual(r.fixtureTypeCounts, c.typeCounts, 'the rebuilt model has the tensor types the log counts');
    if (c.knownMiss) {
      assert.ok(c.knownMiss.length > 20, 'a known miss says why');
      return;
    }
    for (const p of r.parts) {
      assert.ok(
        p.ok,
        `${p.part}: predicted ${(p.predictedBytes / MiB).toFixed(2)} MiB, llama.cpp printed ${(p.printedBytes / MiB).toFixed(2)} MiB (allowed ±${(p.toleranceBytes / MiB).toFixed(2)} MiB)`,
      );
    }
  });
}

test('docs/estimate-accuracy.md is the table of these results (node scripts/estimate-accuracy.ts rewrites it)', async () => {
  const byId = new Map(results.map((r) => [r.truthCase.id, r]));
  const ordered = cases.map((c) => byId.get(c.id)).filter((r): r is CaseResult => r !== undefined);
  assert.equal(ordered.length, cases.length, 'every case was evaluated');
  const committed = await readFile(ACCURACY_DOC, 'utf8').catch(() => '');
  assert.equal(committed, `${renderAccuracyDoc(ordered)}\n`);
});

test("the graph follows the log's llama.cpp: before June 2026 (b9272 in llama.cpp issue 23527 still calls graph_reserve(n_tokens, n_seqs, n_tokens)) or as v0.5.0 reserves it", () => {
  assert.equal(llamaGraphEra({ build: 9272 }), 'before-2026-06');
  assert.equal(llamaGraphEra({ date: '2025-10-10 (llama.cpp build 6699, CUDA)' }), 'before-2026-06');
  assert.equal(llamaGraphEra({ date: '2026-05-22' }), 'before-2026-06');
  assert.equal(llamaGraphEra({ date: '2026-10-08' }), 'current');
  assert.equal(llamaGraphEra({}), 'current', "unknown: llama.cpp v0.5.0's graph");
  assert.equal(graphEra({ source: { kind: 'file', ref: 'x', date: '2025-05' }, command: 'llama-server (build b5466)' }), 'before-2026-06');
});

test('-ngl counts the output layer first from llama.cpp pull request 18148 (December 2025) on: b5466 of May 2025 did not', () => {
  assert.equal(offloadsOutputLayerFirst({ build: 5466 }), false);
  assert.equal(offloadsOutputLayerFirst({ date: '2025-12-01 (build 7217, Metal)', build: 7217 }), false);
  assert.equal(offloadsOutputLayerFirst({ date: '2026-01-10' }), true);
  assert.equal(offloadsOutputLayerFirst({}), true, "unknown: llama.cpp v0.5.0's placement");
});
