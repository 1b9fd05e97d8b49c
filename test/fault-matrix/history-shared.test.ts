/**
 * Fault matrix: one history folder shared by two VS Code windows, a clock that steps back, and lines
 * that cannot be true. Real stores on real files in a private temporary folder, with fake clocks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { HistoryStore } from '../../src/core/history/store.ts';
import type { HistorySample } from '../../src/core/history/types.ts';
import { applySample, fromSnapshot } from '../../webview/view-model.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { MiB } from '../../src/core/units.ts';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const HOUR = 3_600_000;
const sample = (t: number, usedMiB: number): HistorySample => ({ t, gpus: [{ gpu: 0, used: usedMiB * MiB, total: 8192 * MiB }], system: null });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-history-shared-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Reloads the folder in a new store, as a window opening it: what its chart shows, and its log. */
async function reload(clock: FakeClock) {
  const logs: string[] = [];
  const s = new HistoryStore({ dir, clock, log: (m) => logs.push(m) });
  const stats = await s.load();
  const points = s.range('gpu:0', 0, Infinity);
  await s.close();
  return { stats, used: points.v.map((v) => v / MiB), times: points.t, logs };
}

test("two windows share a history folder and one cleans up old files → the other's live file is kept whole", async () => {
  const clock = new FakeClock(T0);
  const retentionMs = HOUR;
  // Window B opened first and has been recording ever since, a sample a minute.
  const b = new HistoryStore({ dir, clock, retentionMs, flushMs: 1000 });
  await b.load();
  // Window A opened half an hour later and starts new files often (small files).
  let a: HistoryStore | null = null;
  for (let minute = 0; minute < 160; minute++) {
    b.record(sample(clock.now(), 2000 + minute));
    if (minute === 30) {
      a = new HistoryStore({ dir, clock, retentionMs, maxFileBytes: 2000, flushMs: 1000 });
      await a.load();
    }
    for (let i = 0; i < 6 && a; i++) {
      a.record(sample(clock.now() + i * 10_000, 3000));
      await a.flush(); // each flush past the file size starts a new file, and cleans up
    }
    await clock.advance(60_000);
  }
  await b.flush();
  await a?.close();
  // Window B's file: the one its first sample went to (at 2000 MiB).
  const texts = new Map(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f), 'utf8')] as const)));
  const bFiles = [...texts].filter(([, text]) => text.startsWith(`{"t":${T0},`)).map(([f]) => f);
  assert.equal(bFiles.length, 1, "window B's live file was deleted by window A's cleanup");
  const lines = texts.get(bFiles[0]!)!.split('\n').filter(Boolean);
  assert.equal(lines.length, 160, 'every line window B wrote is still there');
  // A's own old files (all their records past the retention) were cleaned up.
  const aFiles = (await readdir(dir)).filter((f) => f !== bFiles[0]);
  const aStarts = aFiles.map((f) => Number(/^history-(\d+)/.exec(f)![1]));
  assert.ok(aFiles.length >= 2, aFiles.join(', '));
  assert.ok(Math.min(...aStarts) > clock.now() - retentionMs - 10 * 60_000, `old files of window A were kept: ${aFiles.join(', ')}`);
  await b.close();
});

test("the clock steps back an hour → the live chart takes the next hour's samples, and the log says the clock went back", async () => {
  const clock = new FakeClock(T0);
  const logs: string[] = [];
  const s = new HistoryStore({ dir, clock, flushMs: 1000, log: (m) => logs.push(m) });
  await s.load();
  for (let i = 0; i <= 60; i++) {
    s.record(sample(T0 + i * 60_000, 1000 + i));
    await clock.advance(60_000);
  }
  // The clock is set back an hour (a wrong time zone corrected, an NTP step): the next hour's
  // samples carry the times of the hour just recorded.
  for (let i = 0; i <= 60; i++) s.record(sample(T0 + i * 60_000, 5000 + i));
  const shown = s.range('gpu:0', 0, Infinity).v.map((v) => v / MiB);
  assert.deepEqual(
    shown,
    Array.from({ length: 61 }, (_, i) => 5000 + i),
    'the chart shows the samples taken after the clock went back',
  );
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(
    logs[0]!,
    /^history: the clock went back 3600 s \(a sample stamped 2026-03-02T09:00:00\.000Z came after one stamped 2026-03-02T10:00:00\.000Z\): the chart goes on from 2026-03-02T09:00:00\.000Z, and the 61 point\(s\) it held from that time on are no longer shown/,
  );
  await s.close();
  const after = await reload(clock);
  assert.deepEqual(
    after.used,
    Array.from({ length: 61 }, (_, i) => 5000 + i),
    'a reload shows what the chart showed',
  );
  assert.equal(after.logs.filter((l) => /the clock went back 3600 s/.test(l)).length, 1, after.logs.join('\n'));

  // The open dashboard page: it drew the first hour, then gets the samples taken after the step back.
  const page = fromSnapshot({
    mode: { kind: 'live' },
    source: 'NVML',
    now: T0 + HOUR,
    bounds: { first: T0, last: T0 + HOUR },
    gpus: [{ gpu: 0, name: 'GPU', totalMiB: 8192, thresholds: null, level: 'ok' }],
    range: '1h',
    data: {
      from: T0,
      to: T0 + HOUR,
      gpus: [{ gpu: 0, t: Array.from({ length: 61 }, (_, i) => T0 + i * 60_000), v: Array.from({ length: 61 }, (_, i) => 1000 + i) }],
      ram: { t: [], v: [] },
      swap: { t: [], v: [] },
      ramTotalMiB: null,
      swapTotalMiB: null,
    },
    markers: [],
    processes: [],
    servers: [],
    chain: { mode: 'confirm', busy: false, steps: [], actions: [] },
  });
  for (let i = 0; i <= 60; i++) applySample(page, { t: T0 + i * 60_000, g: [[0, 5000 + i, 8192, 'ok']], m: null });
  assert.deepEqual(
    page.series.get(0)?.v,
    Array.from({ length: 61 }, (_, i) => 5000 + i),
    'the page shows the samples taken after the clock went back',
  );
});

test('a history line with used 9e99 above total or GPU index 99,999,999 → rejected, counted by why in the log; the rest loads', async () => {
  const line = (t: number, gpu: number, used: number) => `{"t":${t},"g":[[${gpu},${used},${8192 * MiB}]]}`;
  await writeFile(
    join(dir, `history-${T0}.jsonl`),
    `${[
      line(T0, 0, 1000 * MiB),
      line(T0 + 1000, 0, 9e99),
      line(T0 + 2000, 99_999_999, 1000 * MiB),
      line(T0 + 3000, 0, 9000 * MiB),
      `{"t":${T0 + 4000},"g":[[0,${1000 * MiB},${8192 * MiB}]],"m":[${64 * 1024 * MiB},${32 * 1024 * MiB},0,0]}`,
      line(T0 + 5000, 0, 1005 * MiB),
    ].join('\n')}\n`,
  );
  const { stats, used, logs } = await reload(new FakeClock(T0 + 10_000));
  assert.deepEqual(used, [1000, 1005]);
  assert.equal(stats.badLines, 4);
  assert.deepEqual(stats.badWhy, { 'GPU memory used above its total': 2, 'a GPU index above 1023': 1, 'RAM or swap used above its total': 1 });
  assert.ok(
    logs.includes(
      `history: skipped 4 unreadable line(s) in ${dir}: 2 GPU memory used above its total, 1 a GPU index above 1023, 1 RAM or swap used above its total`,
    ),
    logs.join('\n'),
  );
});
