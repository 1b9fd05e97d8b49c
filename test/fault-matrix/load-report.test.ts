/**
 * Fault matrix: llama.cpp's load report as a server prints it (load-report.ts), and the printed parts
 * as the measured-footprints file keeps them. The good lines are published llama.cpp output
 * (test/fixtures/estimate-truth/qwen3-4b-q4km-server-8k.json); each test breaks one thing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deviceParts, LoadReportParser, MAX_LINE_CHARS } from '../../src/core/estimate/load-report.ts';
import { FOOTPRINTS_FILE, FootprintStore } from '../../src/core/estimate/measured-footprints.ts';
import { MiB } from '../../src/core/units.ts';

const MODEL = 'load_tensors:        CUDA0 model buffer size =  2375.91 MiB\n';
const KV = 'llama_kv_cache:      CUDA0 KV buffer size =  1152.00 MiB\n';
const COMPUTE = 'sched_reserve:      CUDA0 compute buffer size =    85.01 MiB\n';
const mib = (x: number) => Math.round(x * MiB);
const GOOD = { model: mib(2375.91), kv: mib(1152), rs: 0, compute: mib(85.01), output: 0 };

function parse(...chunks: string[]) {
  const p = new LoadReportParser();
  for (const c of chunks) p.push(c, 'stderr');
  p.end();
  return p;
}

test('a garbage line amid the load report → skipped; the report around it is read whole', () => {
  const p = parse(MODEL, '\u0000\u00ff§ buffer size = = MiB |||\n', 'load_tensors: model buffer size\n', KV, COMPUTE);
  assert.deepEqual(deviceParts(p.report()), GOOD);
  assert.equal(p.report().complete, true);
});

test('a 1 MB line without a newline in the server output → skipped as it streams, never held; the report after it is read', () => {
  const p = new LoadReportParser();
  p.push(MODEL);
  const big = 'x'.repeat(64 * 1024);
  for (let i = 0; i < 16; i++) p.push(big);
  // The line is dropped while it streams: the parser holds no more than one line's cap.
  p.push(` model buffer size = 1.00 MiB\n${KV}${COMPUTE}`);
  p.end();
  assert.ok(16 * big.length > MAX_LINE_CHARS);
  assert.deepEqual(deviceParts(p.report()), GOOD);
  assert.ok(p.rejected >= 1);
});

test('a buffer size that overflows, is negative or is NaN → that line is not taken; the others are', () => {
  const p = parse(
    MODEL,
    'load_tensors:        CUDA1 model buffer size = 1e400 MiB\n',
    'load_tensors:        CUDA1 model buffer size = 99999999999999999999999 MiB\n',
    'llama_kv_cache:      CUDA1 KV buffer size =    -12.00 MiB\n',
    'llama_kv_cache:      CUDA1 KV buffer size =      nan MiB\n',
    KV,
    COMPUTE,
  );
  assert.deepEqual(deviceParts(p.report()), GOOD);
  assert.deepEqual(
    p.report().buffers.map((b) => b.buffer),
    ['CUDA0', 'CUDA0', 'CUDA0'],
  );
  assert.equal(p.rejected, 4);
});

test('a --log-jsonl line that is not JSON → skipped; the JSON lines around it are read', () => {
  const json = (msg: string) => `${JSON.stringify({ type: 'log', time: 1, level: 'info', msg })}\n`;
  const p = parse(json(MODEL), '{"type":"log","msg":"llama_kv_cache:      CUDA0 KV buffer size = 1152.00 MiB\n', json(KV), json(COMPUTE), json('main: done\n'));
  assert.deepEqual(deviceParts(p.report()), GOOD);
  assert.equal(p.report().complete, true);
  assert.equal(p.rejected, 1);
});

test('a memory breakdown table with missing columns → those rows are not taken; the buffer lines still make the report', () => {
  const table = [
    'common_memory_breakdown_print: | memory breakdown [MiB] | total   free    self   model   context   compute    unaccounted |',
    'common_memory_breakdown_print: |   - CUDA0 (RTX 4090)   | 24080 = 20000 + ( 3612 =  2375 +  1152 +  85) |',
    'common_memory_breakdown_print: |   - Host               |                   332 =   304 +  |',
    'main: exiting',
  ].join('\n');
  const p = parse(MODEL, KV, COMPUTE, 'srv  load_model: done\n', `${table}\n`);
  assert.deepEqual(deviceParts(p.report()), GOOD);
  assert.deepEqual(p.report().breakdown, []);
  assert.equal(p.rejected, 2);
});

test('printed parts in the measured-footprints file that are malformed (a negative size, an unknown part) → that entry is ignored with a log line and the estimate is used', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-printed-'));
  try {
    const entry = (key: string, printed: unknown) => ({
      key,
      modelPath: '/models/m.gguf',
      measuredBytes: null,
      estimateBytes: 1000 * MiB,
      measuredAt: '2026-12-07T09:00:00.000Z',
      settings: '-c 8192',
      printed,
    });
    const good = {
      weightsBytes: mib(2375.91),
      kvCacheBytes: mib(1152),
      recurrentStateBytes: 0,
      computeBufferBytes: mib(85.01),
      outputBytes: 0,
      buffers: [{ part: 'model', buffer: 'CUDA0', bytes: mib(2375.91) }],
      printedAt: '2026-12-07T09:00:00.000Z',
    };
    await writeFile(
      join(dir, FOOTPRINTS_FILE),
      JSON.stringify({
        version: 1,
        footprints: [
          entry('a'.repeat(64), { ...good, kvCacheBytes: -1 }),
          entry('b'.repeat(64), { ...good, buffers: [{ part: 'vram', buffer: 'CUDA0', bytes: 1 }] }),
          entry('c'.repeat(64), good),
        ],
      }),
    );
    const logs: string[] = [];
    const store = new FootprintStore(dir, (m) => logs.push(m));
    assert.equal(await store.get('a'.repeat(64)), null);
    assert.equal(await store.get('b'.repeat(64)), null);
    assert.deepEqual((await store.get('c'.repeat(64)))?.printed, good);
    assert.match(logs.join('\n'), /2 malformed entries/);
    // Read-only: the file is left as it was.
    assert.match(await readFile(join(dir, FOOTPRINTS_FILE), 'utf8'), /"vram"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
