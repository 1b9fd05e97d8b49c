/** History export and import: CSV and JSON Lines round trips, nvidia-smi logs, VRAM Guard traces. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { csvRows, exportRecords, HistoryImportError, importHistory, parseNvidiaSmiTime } from '../../../src/core/history/io.ts';
import type { HistoryRecord } from '../../../src/core/history/types.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';
import { MiB } from '../../../src/core/units.ts';

const GiB = 1024 * MiB;
const T0 = Date.parse('2025-10-31T07:14:55Z');

const records: HistoryRecord[] = [
  {
    type: 'sample',
    sample: {
      t: T0,
      gpus: [{ gpu: 0, used: 3600 * MiB, total: 4 * GiB }],
      system: { ramUsed: 789 * MiB, ramTotal: 16 * GiB, swapUsed: 0, swapTotal: 8 * GiB },
    },
  },
  {
    type: 'event',
    event: {
      t: T0 + 1000,
      kind: 'transition',
      gpu: 0,
      text: 'GPU 0: WARNING → CRITICAL, "speech"',
      level: 'critical',
      usedBefore: 3740 * MiB,
      usedAfter: null,
    },
  },
  {
    type: 'sample',
    sample: {
      t: T0 + 2000,
      gpus: [
        { gpu: 0, used: 3740 * MiB, total: 4 * GiB },
        { gpu: 1, used: 512 * MiB, total: 8 * GiB },
      ],
      system: null,
    },
  },
];

async function exported(format: 'csv' | 'jsonl'): Promise<string> {
  let text = '';
  await exportRecords([records], format, 'test', async (c) => {
    text += c;
  });
  return text;
}

describe('history export and import', () => {
  it('round-trips CSV (GPU rows, system memory, quoted events)', async () => {
    const text = await exported('csv');
    assert.match(text, /^time,gpu,used_mib,total_mib,ram_used_mib/);
    assert.equal(csvRows(records[2]!).length, 2, 'one row per GPU');
    const back = importHistory(text, 'h.csv');
    assert.equal(back.format, 'csv');
    assert.deepEqual(back.skipped, []);
    const samples = back.records.filter((r) => r.type === 'sample');
    assert.equal(samples.length, 2);
    assert.deepEqual(samples[1]!.type === 'sample' && samples[1]!.sample.gpus, [
      { gpu: 0, used: 3740 * MiB, total: 4 * GiB },
      { gpu: 1, used: 512 * MiB, total: 8 * GiB },
    ]);
    assert.deepEqual(samples[0]!.type === 'sample' && samples[0]!.sample.system, records[0]!.type === 'sample' && records[0]!.sample.system);
    const event = back.records.find((r) => r.type === 'event');
    assert.equal(event?.type === 'event' && event.event.text, 'GPU 0: WARNING → CRITICAL, "speech"');
  });

  it('round-trips JSON Lines exactly', async () => {
    const back = importHistory(await exported('jsonl'), 'h.jsonl');
    assert.equal(back.format, 'jsonl');
    assert.equal(back.title, 'test');
    assert.deepEqual(back.records, records);
  });

  it('reads a real-format nvidia-smi --query-gpu CSV log (units, [N/A], a repeated header, two GPUs)', async () => {
    const text = await readFile(join(repoRoot, 'test', 'fixtures', 'nvidia-smi', 'query-gpu-log.csv'), 'utf8');
    const back = importHistory(text, 'gpu.csv');
    assert.equal(back.format, 'nvidia-smi');
    assert.equal(back.skipped.length, 1);
    assert.match(back.skipped[0]!, /line 8: no memory figures/);
    const gpu0 = back.records.flatMap((r) =>
      r.type === 'sample' ? r.sample.gpus.filter((g) => g.gpu === 0).map((g) => [r.sample.t, g.used / MiB, g.total / MiB]) : [],
    );
    assert.deepEqual(
      gpu0.map((x) => x[1]),
      [3600, 3601, 3740, 420],
    );
    assert.equal(gpu0[2]![0], new Date(2025, 9, 31, 7, 14, 57, 418).getTime(), 'local time, milliseconds kept');
    assert.equal(gpu0[0]![2], 4096);
    const gpu1 = back.records.flatMap((r) => (r.type === 'sample' ? r.sample.gpus.filter((g) => g.gpu === 1) : []));
    assert.equal(gpu1.length, 5);
  });

  it('reads nvidia-smi logs written without header and units', () => {
    const back = importHistory('2025/10/31 07:14:55.412, 0, 3600, 4096\n2025/10/31 07:14:56.412, 0, 3700, 4096\n', 'noheader.csv');
    assert.equal(back.format, 'nvidia-smi');
    assert.equal(back.records.length, 2);
    assert.equal(parseNvidiaSmiTime('2025/10/31 07:14:55'), new Date(2025, 9, 31, 7, 14, 55).getTime());
  });

  it('reads the shipped replay trace, its events as notes', async () => {
    const text = await readFile(join(repoRoot, 'media', 'traces', 'a1000-4gb-speech-cascade.jsonl'), 'utf8');
    const back = importHistory(text, 'trace.jsonl');
    assert.equal(back.format, 'trace');
    assert.match(back.title, /RTX A1000/);
    const used = back.records.flatMap((r) => (r.type === 'sample' ? r.sample.gpus.map((g) => g.used / MiB) : []));
    assert.ok(used.length > 10);
    assert.ok(Math.max(...used) >= 3740);
    assert.ok(back.records.some((r) => r.type === 'event' && r.event.kind === 'note'));
    for (let i = 1; i < back.records.length; i++) {
      const t = (r: HistoryRecord) => (r.type === 'sample' ? r.sample.t : r.event.t);
      assert.ok(t(back.records[i]!) >= t(back.records[i - 1]!));
    }
  });

  it('refuses what it cannot read, saying what it expected', () => {
    assert.throws(
      () => importHistory('hello,world\n1,2\n', 'x.csv'),
      (err: unknown) => err instanceof HistoryImportError && /nvidia-smi --query-gpu/.test(err.message),
    );
    assert.throws(() => importHistory('', 'empty.csv'), /empty/);
    assert.throws(() => importHistory('{"vramGuardTrace":1,"title":"t","devices":[]}\n', 't.jsonl'), /devices/);
    assert.throws(
      () => importHistory('timestamp, index, memory.used [MiB], memory.total [MiB]\n2025/10/31 07:14:58.420, 0, [N/A], 4096 MiB\n', 'na.csv'),
      /no samples/,
    );
  });
});
