/**
 * The printed parts as kept and as the next estimate uses them. The printed figures are a published
 * llama.cpp load (test/fixtures/estimate-truth/qwen3-4b-q4km-server-8k.json), read by the parser.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { VramEstimate } from '../../../src/core/estimate/estimate-types.ts';
import { LoadReportParser } from '../../../src/core/estimate/load-report.ts';
import { partRows, printedFootprint, validPrintedFootprint, withPrintedParts } from '../../../src/core/estimate/printed-footprint.ts';
import { MiB } from '../../../src/core/units.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';

const mib = (x: number) => Math.round(x * MiB);

function published() {
  const lines = (
    JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'estimate-truth', 'qwen3-4b-q4km-server-8k.json'), 'utf8')) as { printed: string[] }
  ).printed;
  const p = new LoadReportParser();
  for (const l of lines) p.push(`${l}\n`);
  p.end();
  const printed = printedFootprint(p.report(), new Date('2026-12-07T09:12:00Z'));
  assert.ok(printed);
  return printed;
}

/** A formula estimate whose parts are made up: what is checked is which parts the printed ones replace. */
const formula: VramEstimate = {
  kind: 'estimate',
  modelPath: '/models/Qwen3-4B-Q4_K_M.gguf',
  architecture: 'qwen3',
  parts: {
    weightsBytes: 2400 * MiB,
    kvCacheBytes: 1100 * MiB,
    recurrentStateBytes: 0,
    computeBufferBytes: 90 * MiB,
    projectorBytes: 0,
    draftBytes: 0,
    runtimeBytes: 256 * MiB,
  },
  totalBytes: 3846 * MiB,
  assumptions: {
    contextTokens: 8192,
    parallel: 1,
    kvUnified: false,
    flashAttention: 'on',
    cacheTypeK: 'f16',
    cacheTypeV: 'f16',
    ubatchTokens: 512,
    gpuLayers: 37,
    totalLayers: 37,
    notes: [],
  },
};

test('the kept report holds the device parts llama.cpp printed, and is valid when read back', () => {
  const printed = published();
  assert.equal(printed.weightsBytes, mib(2375.91));
  assert.equal(printed.kvCacheBytes, mib(1152));
  assert.equal(printed.computeBufferBytes, mib(85.01));
  // The output buffer was CUDA_Host: host memory, not on the GPU.
  assert.equal(printed.outputBytes, 0);
  assert.equal(validPrintedFootprint(JSON.parse(JSON.stringify(printed))), true);
});

test('the next estimate takes the printed parts, keeps the CUDA context estimated, and says where they came from', () => {
  const printed = published();
  const e = withPrintedParts(formula, printed);
  assert.equal(e.parts.weightsBytes, mib(2375.91));
  assert.equal(e.parts.kvCacheBytes, mib(1152));
  assert.equal(e.parts.computeBufferBytes, mib(85.01));
  assert.equal(e.parts.runtimeBytes, 256 * MiB);
  assert.equal(e.totalBytes, mib(2375.91) + mib(1152) + mib(85.01) + 256 * MiB);
  assert.match(e.assumptions.notes.at(-1) ?? '', /from llama\.cpp's own report of 2026-12-07 09:12 .*the formula gave 3846 MiB/);
});

test('per part rows put the estimate beside the printed size; parts llama.cpp does not print have none', () => {
  const rows = partRows(formula, published());
  assert.deepEqual(
    rows.map((r) => [r.part, r.estimateBytes, r.printedBytes]),
    [
      ['weights', 2400 * MiB, mib(2375.91)],
      ['KV cache', 1100 * MiB, mib(1152)],
      ['compute buffer', 90 * MiB, mib(85.01)],
      ['CUDA context', 256 * MiB, null],
    ],
  );
});
