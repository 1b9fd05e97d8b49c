/**
 * Fault matrix: llama.cpp's memory breakdown table as the measured-footprints file keeps it (the
 * table llama-server prints as it stops, added to the entry recorded at ready). The good table is
 * parsed from llama.cpp's own table format (common_memory_breakdown_print); each entry breaks one thing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LoadReportParser } from '../../src/core/estimate/load-report.ts';
import { FOOTPRINTS_FILE, FootprintStore } from '../../src/core/estimate/measured-footprints.ts';
import { printedBreakdown, printedFootprint } from '../../src/core/estimate/printed-footprint.ts';
import { MiB } from '../../src/core/units.ts';

const LOAD = [
  'load_tensors:        CUDA0 model buffer size =  2375.91 MiB',
  'llama_kv_cache:      CUDA0 KV buffer size =  1152.00 MiB',
  'sched_reserve:      CUDA0 compute buffer size =    85.01 MiB',
  'srv  load_model: done',
  'common_memory_breakdown_print: | memory breakdown [MiB] | total   free    self   model   context   compute    unaccounted |',
  'common_memory_breakdown_print: |   - CUDA0 (RTX 4090)   | 24080 = 20000 + ( 3612 =  2375 +    1152 +      85) +         856 |',
  'common_memory_breakdown_print: |   - Host               |                   332 =   304 +      20 +       8                |',
  'main: exiting',
].join('\n');

test('a memory breakdown in the measured-footprints file that is malformed (a negative figure, a 300-character name, an unknown kind, no rows) → that entry is ignored with a log line and the estimate is used', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-breakdown-'));
  try {
    const p = new LoadReportParser();
    p.push(`${LOAD}\n`, 'stderr');
    p.end();
    const at = new Date('2026-12-07T09:00:00.000Z');
    const breakdown = printedBreakdown(p.report(), at);
    const printed = printedFootprint(p.report(), at);
    assert.ok(breakdown && printed);
    assert.deepEqual(
      breakdown.rows.map((r) => [r.name, r.selfBytes / MiB]),
      [
        ['CUDA0 (RTX 4090)', 3612],
        ['Host', 332],
      ],
    );
    const good = { ...printed, breakdown };
    const row = breakdown.rows[0]!;
    const entry = (key: string, breakdownValue: unknown) => ({
      key,
      modelPath: '/models/m.gguf',
      measuredBytes: null,
      estimateBytes: 1000 * MiB,
      measuredAt: '2026-12-07T09:00:00.000Z',
      settings: '-c 8192',
      printed: { ...printed, breakdown: breakdownValue },
    });
    await writeFile(
      join(dir, FOOTPRINTS_FILE),
      JSON.stringify({
        version: 1,
        footprints: [
          entry('a'.repeat(64), { ...breakdown, rows: [{ ...row, selfBytes: -1 }] }),
          entry('b'.repeat(64), { ...breakdown, rows: [{ ...row, name: 'x'.repeat(300) }] }),
          entry('c'.repeat(64), { ...breakdown, rows: [{ ...row, kind: 'gpu' }] }),
          entry('d'.repeat(64), { ...breakdown, rows: [] }),
          entry('e'.repeat(64), breakdown),
        ],
      }),
    );
    const logs: string[] = [];
    const store = new FootprintStore(dir, (m) => logs.push(m));
    for (const k of 'abcd') assert.equal(await store.get(k.repeat(64)), null, `entry ${k}`);
    assert.deepEqual((await store.get('e'.repeat(64)))?.printed, good);
    assert.match(logs.join('\n'), /4 malformed entries/);
    // Read-only: the file is left as it was.
    assert.match(await readFile(join(dir, FOOTPRINTS_FILE), 'utf8'), /"gpu"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
