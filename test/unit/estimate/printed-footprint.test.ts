/**
 * The printed parts as kept and as the next estimate uses them. The printed figures are a published
 * llama.cpp load (test/fixtures/estimate-truth/qwen3-4b-q4km-server-8k.json), read by the parser.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { VramEstimate } from '../../../src/core/estimate/estimate-types.ts';
import { LoadReportParser } from '../../../src/core/estimate/load-report.ts';
import { FootprintStore } from '../../../src/core/estimate/measured-footprints.ts';
import {
  breakdownText,
  partRows,
  printedBreakdown,
  printedFootprint,
  validPrintedFootprint,
  withPrintedParts,
} from '../../../src/core/estimate/printed-footprint.ts';
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

test('a start whose NVML figure did not settle keeps the measurement before it; a start without a report keeps the report before it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-printed-merge-'));
  try {
    const store = new FootprintStore(dir);
    const key = 'f'.repeat(64);
    const base = { key, modelPath: '/models/Qwen3-4B-Q4_K_M.gguf', estimateBytes: 3846 * MiB, settings: '-c 8192' };
    await store.record({ ...base, measuredBytes: 3900 * MiB, measuredAt: '2026-12-06T10:00:00.000Z' });
    const printed = published();
    await store.record({ ...base, measuredBytes: null, measuredAt: '2026-12-07T09:12:00.000Z', printed });
    let e = await store.get(key);
    assert.equal(e?.measuredBytes, 3900 * MiB);
    assert.equal(e?.measuredAt, '2026-12-06T10:00:00.000Z');
    assert.deepEqual(e?.printed, printed);
    await store.record({ ...base, measuredBytes: 3910 * MiB, measuredAt: '2026-12-07T10:00:00.000Z' });
    e = await store.get(key);
    assert.equal(e?.measuredBytes, 3910 * MiB);
    assert.deepEqual(e?.printed, printed);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a report read at ready keeps the memory breakdown table an earlier stop printed for the same file and settings', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-printed-breakdown-'));
  try {
    // The published load, then the table llama-server prints as it stops (its own format; the figures are the load's, in whole MiB).
    const lines = (
      JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'estimate-truth', 'qwen3-4b-q4km-server-8k.json'), 'utf8')) as { printed: string[] }
    ).printed;
    const p = new LoadReportParser();
    for (const l of lines) p.push(`${l}\n`);
    p.push('common_memory_breakdown_print: | memory breakdown [MiB] | total   free    self   model   context   compute    unaccounted |\n');
    p.push('common_memory_breakdown_print: |   - CUDA0 (RTX 4090)   | 24080 = 20000 + ( 3612 =  2375 +    1152 +      85) +         856 |\n');
    p.end();
    const breakdown = printedBreakdown(p.report(), new Date('2026-12-07T11:00:00Z'));
    assert.ok(breakdown);
    assert.deepEqual(breakdown.rows, [
      { kind: 'device', name: 'CUDA0 (RTX 4090)', selfBytes: 3612 * MiB, modelBytes: 2375 * MiB, contextBytes: 1152 * MiB, computeBytes: 85 * MiB },
    ]);
    assert.equal(breakdownText(breakdown), 'CUDA0 (RTX 4090) 3612 MiB (model 2375 + context 1152 + compute 85)');

    const store = new FootprintStore(dir);
    const key = 'e'.repeat(64);
    const base = { key, modelPath: '/models/Qwen3-4B-Q4_K_M.gguf', estimateBytes: 3846 * MiB, settings: '-c 8192', measuredBytes: null };
    const printed = published();
    await store.record({ ...base, measuredAt: '2026-12-07T11:00:00.000Z', printed: { ...printed, breakdown } });
    // The next start's report, read at ready (no table yet).
    await store.record({ ...base, measuredAt: '2026-12-07T12:00:00.000Z', printed });
    const e = await store.get(key);
    assert.deepEqual(e?.printed, { ...printed, breakdown });
    assert.ok(validPrintedFootprint(e?.printed));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
