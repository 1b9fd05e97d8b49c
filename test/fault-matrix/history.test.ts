/**
 * Fault matrix: the VRAM history on disk and its import and export. Real files in a temporary
 * folder; a full disk and a folder without write permission are simulated by an injected file layer
 * (HistoryFs) that fails the real operations with ENOSPC / EACCES until the test lets them through —
 * the tests run as any user, root included, where permissions would not stop a write.
 */
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { nodeHistoryFs, type HistoryFs } from '../../src/core/history/files.ts';
import { csvRows, importHistory, importHistoryStream } from '../../src/core/history/io.ts';
import { encodeEvent, encodeSample } from '../../src/core/history/lines.ts';
import { FUTURE_TOLERANCE_MS, HistoryStore } from '../../src/core/history/store.ts';
import type { HistoryEvent, HistorySample } from '../../src/core/history/types.ts';
import { MiB } from '../../src/core/units.ts';
import { EventLoopLag } from '../helpers/event-loop-lag.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const GiB = 1024 * MiB;
const T0 = Date.parse('2026-03-02T09:00:00Z');
const sample = (t: number, usedMiB: number): HistorySample => ({ t, gpus: [{ gpu: 0, used: usedMiB * MiB, total: 8 * GiB }], system: null });
const note = (t: number, text: string): HistoryEvent => ({ t, kind: 'note', gpu: null, text, level: null, usedBefore: null, usedAfter: null });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-history-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A store on `folder` with a fake clock, and what it logs. */
function store(folder: string, clock: FakeClock, fs?: HistoryFs) {
  const logs: string[] = [];
  const s = new HistoryStore({ dir: folder, clock, flushMs: 1000, log: (m) => logs.push(m), fs });
  return { s, logs };
}

/** Reloads the folder in a new store: what the user sees after restarting VS Code. */
async function reload(folder: string, clock: FakeClock) {
  const { s, logs } = store(folder, clock);
  const stats = await s.load();
  const used = s.range('gpu:0', 0, Infinity).v.map((v) => v / MiB);
  await s.close();
  return { stats, used, logs };
}

/** The real file operations, failing writes with `code` while `broken.on` is set. */
function failingFs(code: string, broken: { on: boolean; failures: number }, ops: Array<'mkdir' | 'appendFile'> = ['appendFile']): HistoryFs {
  const fail = (what: string) => {
    broken.failures++;
    return Promise.reject(Object.assign(new Error(`${code}: ${what}`), { code }));
  };
  return {
    ...nodeHistoryFs,
    mkdir: (p) => (broken.on && ops.includes('mkdir') ? fail(`mkdir '${p}'`) : nodeHistoryFs.mkdir(p)),
    appendFile: async (p, text) => {
      if (!broken.on || !ops.includes('appendFile')) return nodeHistoryFs.appendFile(p, text);
      // A full disk takes part of the write before it fails.
      await nodeHistoryFs.appendFile(p, text.slice(0, Math.floor(text.length / 3)));
      return fail(`write '${p}'`);
    },
  };
}

test('history file torn by a crash → the torn last line skipped, every other record loads', async () => {
  const lines = [0, 1, 2].map((i) => encodeSample(sample(T0 + i * 1000, 3600 + i)));
  await writeFile(join(dir, `history-${T0}.jsonl`), `${lines.join('\n')}\n${encodeSample(sample(T0 + 3000, 3603)).slice(0, 20)}`);
  await writeFile(join(dir, `history-${T0 + 10_000}.jsonl`), `${encodeSample(sample(T0 + 10_000, 3700))}\n`);
  const { stats, used } = await reload(dir, new FakeClock(T0 + 60_000));
  assert.equal(stats.tornLines, 1);
  assert.equal(stats.badLines, 0);
  assert.deepEqual(used, [3600, 3601, 3602, 3700]);
});

test('history file corrupt (garbage and a 1 MiB line) → those lines skipped and counted, every valid record loads', async () => {
  const good = [0, 1, 2, 3].map((i) => encodeSample(sample(T0 + i * 1000, 3600 + i)));
  await writeFile(
    join(dir, `history-${T0}.jsonl`),
    `${[good[0], '\u0000\u0000garbage{{{', good[1], `{"t":${T0},"g":"${'x'.repeat(MiB)}"}`, good[2], '[1,2,3]', good[3]].join('\n')}\n`,
  );
  const { stats, used, logs } = await reload(dir, new FakeClock(T0 + 60_000));
  assert.equal(stats.badLines, 3);
  assert.equal(stats.records, 4);
  assert.deepEqual(used, [3600, 3601, 3602, 3603]);
  assert.ok(
    logs.some((l) => /skipped 3 unreadable line\(s\)/.test(l)),
    logs.join('\n'),
  );
});

test('record stamped in the future → refused when recorded and skipped when loaded, with a log line; later samples still shown', async () => {
  const clock = new FakeClock(T0);
  // On disk from an earlier run with a wrong clock: a sample dated next year.
  await writeFile(
    join(dir, `history-${T0 - 5000}.jsonl`),
    `${[encodeSample(sample(T0 - 5000, 3500)), encodeSample(sample(T0 + 365 * 86_400_000, 7999)), encodeSample(sample(T0 - 4000, 3501))].join('\n')}\n`,
  );
  const { s, logs } = store(dir, clock);
  const stats = await s.load();
  assert.equal(stats.futureRecords, 1);
  assert.ok(
    logs.some((l) => /skipped 1 record\(s\) stamped in the future \(up to 2027-03-02T09:00:00\.000Z/.test(l)),
    logs.join('\n'),
  );
  s.record(sample(T0 + 3_600_000, 8888)); // an hour ahead: refused
  s.recordEvent(note(T0 + FUTURE_TOLERANCE_MS + 1, 'from the future'));
  s.record(sample(T0 + FUTURE_TOLERANCE_MS - 1, 3602)); // within the tolerance: kept
  assert.equal(s.refusedFuture, 2);
  assert.ok(
    logs.some((l) => /refused a sample stamped 2026-03-02T10:00:00\.000Z, 3600 s ahead of the clock/.test(l)),
    logs.join('\n'),
  );
  await clock.advance(FUTURE_TOLERANCE_MS);
  s.record(sample(T0 + FUTURE_TOLERANCE_MS + 1000, 3603));
  assert.deepEqual(
    s.range('gpu:0', 0, Infinity).v.map((v) => v / MiB),
    [3500, 3501, 3602, 3603],
  );
  assert.deepEqual(s.events(), []);
  await s.close();
  const after = await reload(dir, clock);
  assert.deepEqual(after.used, [3500, 3501, 3602, 3603], 'a reload shows every real sample');
});

test('disk full while writing (ENOSPC) → samples wait in memory, one warning, all on disk once space returns', async () => {
  const clock = new FakeClock(T0);
  const broken = { on: false, failures: 0 };
  const { s, logs } = store(dir, clock, failingFs('ENOSPC', broken));
  await s.load();
  s.record(sample(T0, 3600));
  await s.flush();
  broken.on = true;
  for (let i = 1; i <= 120; i++) {
    s.record(sample(T0 + i * 1000, 3600 + i));
    await clock.advance(1000);
  }
  assert.ok(broken.failures >= 3, `only ${broken.failures} write attempts while the disk was full: no retry`);
  // Let the write in flight (real file I/O, not the fake clock) finish before counting what waits.
  await s.flush();
  const warnings = logs.filter((l) => /cannot write/.test(l));
  assert.equal(warnings.length, 1, logs.join('\n'));
  assert.match(warnings[0]!, new RegExp(`history: cannot write to ${dir}: ENOSPC \\(the disk is full\\)\\. The samples stay in memory`));
  assert.equal(s.waitingLines(), 120);
  assert.equal(s.range('gpu:0', 0, Infinity).v.length, 121, 'the dashboard still shows every sample');
  broken.on = false;
  await clock.advance(60_000); // the longest back-off
  await s.flush();
  assert.equal(s.waitingLines(), 0);
  assert.ok(
    logs.some((l) => /works again; the 120 line\(s\) that waited are on disk/.test(l)),
    logs.join('\n'),
  );
  await s.close();
  const after = await reload(dir, clock);
  assert.deepEqual(
    after.used,
    Array.from({ length: 121 }, (_, i) => 3600 + i),
    'every sample reached the disk, in order, none twice',
  );
  assert.equal(after.stats.badLines + after.stats.tornLines, 0, 'a partial write left a torn line behind');
});

test('folder cannot be written (EACCES) → one warning naming the folder, retried with back-off, nothing lost', async () => {
  const clock = new FakeClock(T0);
  const broken = { on: true, failures: 0 };
  const folder = join(dir, 'history');
  const { s, logs } = store(folder, clock, failingFs('EACCES', broken, ['mkdir', 'appendFile']));
  await s.load();
  for (let i = 0; i < 30; i++) {
    s.record(sample(T0 + i * 1000, 3600 + i));
    await clock.advance(1000);
  }
  const warnings = logs.filter((l) => /cannot write/.test(l));
  assert.deepEqual(warnings, [
    `history: cannot write to ${folder}: EACCES (permission denied). The samples stay in memory (up to 32 MiB) and writing is retried; they reach the disk once it can be written again.`,
  ]);
  const attempts = broken.failures;
  await clock.advance(30_000);
  assert.ok(broken.failures - attempts <= 4, `${broken.failures - attempts} attempts in 30 s: no back-off`);
  broken.on = false;
  await clock.advance(60_000);
  await s.close();
  assert.deepEqual(
    (await reload(folder, clock)).used,
    Array.from({ length: 30 }, (_, i) => 3600 + i),
  );
});

test('history folder cannot be created (a file in its way) → creation retried, not cached; everything written once it can be', async () => {
  const clock = new FakeClock(T0);
  const blocker = join(dir, 'globalStorage');
  await writeFile(blocker, 'not a folder');
  const folder = join(blocker, 'history');
  const { s, logs } = store(folder, clock);
  await s.load();
  for (let i = 0; i < 5; i++) {
    s.record(sample(T0 + i * 1000, 3600 + i));
    await clock.advance(1000);
  }
  // The writes run on real I/O: wait for the one in flight to fail rather than for a number of turns.
  await s.flush();
  assert.ok(
    logs.some((l) => l.startsWith(`history: cannot write to ${folder}: ENOTDIR (a file is in the way of a folder)`)),
    logs.join('\n'),
  );
  await rm(blocker);
  await clock.advance(60_000);
  await s.close();
  assert.deepEqual((await reload(folder, clock)).used, [3600, 3601, 3602, 3603, 3604]);
});

test('folder where a history file is expected → skipped with a message, the rest loads', async () => {
  await writeFile(join(dir, `history-${T0}.jsonl`), `${encodeSample(sample(T0, 3600))}\n`);
  await mkdir(join(dir, `history-${T0 + 1000}.jsonl`));
  await writeFile(join(dir, `history-${T0 + 2000}.jsonl`), `${encodeSample(sample(T0 + 2000, 3602))}\n`);
  const clock = new FakeClock(T0 + 10_000);
  const { s, logs } = store(dir, clock);
  const stats = await s.load();
  assert.equal(stats.skippedFiles, 1);
  assert.ok(
    logs.some(
      (l) =>
        l ===
        `history: skipped ${join(dir, `history-${T0 + 1000}.jsonl`)}: it is a folder or other non-file where a history file is expected. The rest of the history loads; move it away to silence this message.`,
    ),
    logs.join('\n'),
  );
  assert.deepEqual(
    s.range('gpu:0', 0, Infinity).v.map((v) => v / MiB),
    [3600, 3602],
  );
  s.record(sample(T0 + 10_000, 3610));
  await s.close();
  assert.deepEqual((await reload(dir, clock)).used, [3600, 3602, 3610], 'new samples are written beside the folder');
});

/** Writes `count` history lines (a sample a second, an event every 1000th) to a file. */
async function writeHistory(path: string, count: number): Promise<void> {
  const out = createWriteStream(path);
  const batch: string[] = [];
  for (let i = 0; i < count; i++) {
    batch.push(i % 1000 === 999 ? encodeEvent(note(T0 + i * 1000, `event ${i}`)) : encodeSample(sample(T0 + i * 1000, 3000 + (i % 4000))));
    if (batch.length === 10_000 || i === count - 1) {
      if (!out.write(`${batch.join('\n')}\n`)) await once(out, 'drain');
      batch.length = 0;
    }
  }
  out.end();
  await once(out, 'close');
}

test('huge import (a million records) → streamed without an event-loop pause over 50 ms, every record shown', async () => {
  const path = join(dir, 'million.jsonl');
  await writeHistory(path, 1_000_000);
  const lag = new EventLoopLag(5);
  let progressCalls = 0;
  const imported = await importHistoryStream(createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 }), 'million.jsonl', {
    onProgress: () => progressCalls++,
  });
  const longest = lag.stop();
  const shown = imported.store;
  assert.equal(imported.records, 1_000_000);
  assert.deepEqual(imported.skipped, []);
  assert.equal(shown.range('gpu:0', 0, Infinity).t.length, 999_000);
  assert.equal(shown.events().length, 1000);
  assert.ok(progressCalls > 10, 'the progress notification was never updated');
  assert.ok(
    longest.cpuMs < 50,
    `the import ran ${longest.cpuMs.toFixed(1)} ms of CPU without a turn for the event loop (longest wall-clock gap ${longest.wallMs.toFixed(1)} ms)`,
  );
});

test('import cancelled → stops at once, nothing shown', async () => {
  const path = join(dir, 'big.jsonl');
  await writeHistory(path, 200_000);
  const abort = new AbortController();
  const importing = importHistoryStream(createReadStream(path, { encoding: 'utf8' }), 'big.jsonl', {
    signal: abort.signal,
    onProgress: () => abort.abort(new Error('the import was cancelled')),
  });
  await assert.rejects(importing, /the import was cancelled/);
});

test('import with a line over the length cap → that line skipped and named, the rest imported', async () => {
  const path = join(dir, 'long-line.jsonl');
  await writeFile(
    path,
    `${[encodeSample(sample(T0, 3600)), `{"t":${T0 + 1000},"g":[[0,1,2]],"pad":"${'y'.repeat(300_000)}"}`, encodeSample(sample(T0 + 2000, 3602))].join('\n')}\n`,
  );
  const imported = await importHistoryStream(createReadStream(path, { encoding: 'utf8' }), 'long-line.jsonl');
  assert.deepEqual(imported.skipped, ['line 2: 300042 characters long, more than the 262144 a line may be: skipped']);
  assert.deepEqual(
    imported.store.range('gpu:0', 0, Infinity).v.map((v) => v / MiB),
    [3600, 3602],
  );
});

test('import larger than the size cap → the first part imported, the rest named as skipped', async () => {
  const path = join(dir, 'capped.jsonl');
  const lines = Array.from({ length: 100 }, (_, i) => encodeSample(sample(T0 + i * 1000, 3600 + i)));
  await writeFile(path, `${lines.join('\n')}\n`);
  const cap = lines.slice(0, 40).join('\n').length + 30; // the 41st line is cut: not read
  const imported = await importHistoryStream(createReadStream(path, { encoding: 'utf8' }), 'capped.jsonl', { limits: { maxChars: cap } });
  assert.equal(imported.records, 40);
  assert.equal(
    imported.skipped[0],
    `the file is larger than the ${cap} characters (0 MiB) an import reads: only those were read (to line 40); the rest of the file was skipped`,
  );
});

test('CSV export of cells starting with =, +, -, @, tab or CR → neutralised with a leading quote, imported back unchanged', () => {
  const texts = ['=HYPERLINK("http://x","click")', '+1+2', '-2+3', '@SUM(A1)', '\tcmd', '\rcmd', 'plain text', "'=already quoted"];
  const rows = texts.map((x, i) => csvRows({ type: 'event', event: note(T0 + i, x) })[0]!);
  const cells = rows.map((r) => r.slice(r.indexOf(',note,') + 6));
  assert.deepEqual(cells, [`"'=HYPERLINK(""http://x"",""click"")"`, "'+1+2", "'-2+3", "'@SUM(A1)", "'\tcmd", `"'\rcmd"`, 'plain text', "'=already quoted"]);
  for (const c of cells) assert.doesNotMatch(c.replace(/^"/, ''), /^[=+\-@\t\r]/, `a cell a spreadsheet would run: ${JSON.stringify(c)}`);
  const csv = [
    'time,gpu,used_mib,total_mib,ram_used_mib,ram_total_mib,swap_used_mib,swap_total_mib,event_kind,event',
    csvRows({ type: 'sample', sample: sample(T0, 3600) })[0]!,
    ...rows,
  ].join('\n');
  const back = importHistory(csv, 'export.csv');
  assert.deepEqual(
    back.records.filter((r) => r.type === 'event').map((r) => (r.type === 'event' ? r.event.text : '')),
    texts.slice(0, 7).concat(['=already quoted']),
  );
});
