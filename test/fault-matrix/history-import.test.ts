/**
 * Fault matrix: large and odd logs imported into the history — through the built CLI (dist/cli.cjs,
 * a real process writing into a real history folder) and into the dashboard's store. Every record
 * read is written or counted with its reason; what the history folder holds is read back from the
 * files here, not from the importer. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { importHistoryStream, IMPORT_MAX_EVENTS } from '../../src/core/history/io.ts';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import { MiB } from '../../src/core/units.ts';

let dir: string;
/** Now, to the second: the records imported must lie within the retention of this machine's clock. */
const NOW = Math.floor(Date.now() / 1000) * 1000;
const EVENTS = 1_000_000;
let millionPath: string;

/** Writes lines to a file in batches (a generator of lines keeps the test's own memory small). */
async function writeLines(path: string, lines: Iterable<string>): Promise<void> {
  const out = createWriteStream(path);
  let batch: string[] = [];
  for (const line of lines) {
    batch.push(line);
    if (batch.length === 20_000) {
      if (!out.write(`${batch.join('\n')}\n`)) await once(out, 'drain');
      batch = [];
    }
  }
  out.end(batch.length ? `${batch.join('\n')}\n` : '');
  await once(out, 'close');
}

/** One sample, then a million events a millisecond apart: 1,000,001 records, all within the last hour. */
function* millionEvents(): Generator<string> {
  const t0 = NOW - 3_600_000;
  yield `{"t":${t0},"g":[[0,${3000 * MiB},${8192 * MiB}]]}`;
  for (let i = 1; i <= EVENTS; i++) yield `{"t":${t0 + i},"e":{"k":"note","g":null,"x":"event ${i}","l":null,"b":null,"a":null}}`;
}

/** The files of a history folder and their lines, read here (not through the history code). */
async function historyLines(folder: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const name of (await readdir(folder)).sort()) {
    const text = await readFile(join(folder, name), 'utf8');
    out.set(
      name,
      text.split('\n').filter((l) => l !== ''),
    );
  }
  return out;
}

before(async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-history-import-'));
  millionPath = join(dir, 'million-events.jsonl');
  await writeLines(millionPath, millionEvents());
});
after(async () => rm(dir, { recursive: true, force: true }));

test('history import of a million events → every record written and counted true ("imported 1000001 of 1000001"), none dropped', async () => {
  const history = join(dir, 'million-history');
  const r = await runCli(['history', 'import', millionPath, '--dir', history], {}, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^history: imported 1000001 of 1000001 records \(jsonl\) from \S+million-events\.jsonl into \S+history-\d+\.jsonl; VS Code shows/);
  const files = await historyLines(history);
  assert.equal(files.size, 1, [...files.keys()].join(', '));
  const [lines] = [...files.values()];
  assert.equal(lines!.length, EVENTS + 1, 'every record is on disk');
  const last = JSON.parse(lines!.at(-1)!) as { t: number; e: { x: string } };
  assert.deepEqual([last.t, last.e.x], [NOW - 3_600_000 + EVENTS, `event ${EVENTS}`]);
  const texts = new Set(lines!.slice(1).map((l) => (JSON.parse(l) as { e: { x: string } }).e.x));
  assert.equal(texts.size, EVENTS, 'no event written twice or lost');
});

test('a million events imported into the dashboard → the last 100000 shown, and the rest said to be left out, with the count', async () => {
  const imported = await importHistoryStream(createReadStream(millionPath, { encoding: 'utf8', highWaterMark: 256 * 1024 }), 'million-events.jsonl');
  assert.equal(imported.records, EVENTS + 1);
  assert.equal(IMPORT_MAX_EVENTS, 100_000);
  const shown = imported.store.events();
  assert.equal(shown.length, 100_000);
  assert.equal(shown.at(-1)?.text, `event ${EVENTS}`);
  assert.equal(shown[0]?.text, `event ${EVENTS - 100_000 + 1}`, 'the newest are kept');
  assert.deepEqual(imported.skipped, [`900000 of 1000000 events left out: an imported view holds the last 100000 (every sample is shown)`]);
  assert.equal(imported.store.range('gpu:0', 0, Infinity).t.length, 1);
});

/** nvidia-smi's "YYYY/MM/DD HH:MM:SS.mmm" in local time, as it writes. */
function smiTime(t: number): string {
  const d = new Date(t);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

test('an nvidia-smi log larger than the memory the import may use → streamed: every sample kept and counted, in bounded memory', async () => {
  // 600,000 samples (about 27 MB of text) through a CLI whose heap is capped at 48 MiB: a reader
  // that holds the file, its lines or its records cannot finish.
  const samples = 600_000;
  const path = join(dir, 'nvidia-smi.csv');
  const t0 = NOW - 2 * 3_600_000;
  await writeLines(
    path,
    (function* () {
      yield 'timestamp, index, memory.used [MiB], memory.total [MiB]';
      for (let i = 0; i < samples; i++) yield `${smiTime(t0 + i * 10)}, 0, ${3000 + (i % 4000)} MiB, 8192 MiB`;
    })(),
  );
  const history = join(dir, 'smi-history');
  const r = await runCli(['history', 'import', path, '--dir', history], { NODE_OPTIONS: '--max-old-space-size=48' }, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`imported ${samples} of ${samples} records \\(nvidia-smi\\)`));
  const [lines] = [...(await historyLines(history)).values()];
  assert.equal(lines!.length, samples, 'every sample is on disk');
  const used = lines!.map((l) => (JSON.parse(l) as { g: number[][] }).g[0]![1]! / MiB);
  assert.deepEqual([used[0], used[3999], used[samples - 1]], [3000, 6999, 3000 + ((samples - 1) % 4000)]);
});

test("a VRAM Guard trace larger than 8 MiB → streamed line by line: every sample imported, a line that breaks the trace's rules skipped with its reason", async () => {
  const samples = 250_000;
  const path = join(dir, 'big-trace.jsonl');
  const t0 = NOW - 3 * 3_600_000;
  await writeLines(
    path,
    (function* () {
      yield '{"vramGuardTrace": 1, "title": "big trace", "devices": [{"index": 0, "totalMiB": 8192}]}';
      for (let i = 0; i < samples; i++) {
        yield `{"t": ${t0 + i * 20}, "gpu": 0, "usedMiB": ${3000 + (i % 4000)}, "utilGpu": 50}`;
        if (i === 1000) yield `{"t": ${t0 + i * 20 + 1}, "gpu": 0, "usedMiB": 9000}`;
        if (i === 2000) yield `{"t": ${t0 + i * 20 + 1}, "gpu": 0, "error": "GPU_IS_LOST"}`;
        if (i === 3000) yield `{"t": ${t0 + i * 20 + 1}, "event": "model loaded"}`;
      }
    })(),
  );
  assert.ok((await stat(path)).size > 8 * MiB, 'the trace is larger than the 8 MiB an import once held whole');
  const history = join(dir, 'trace-history');
  const r = await runCli(['history', 'import', path, '--dir', history], { NODE_OPTIONS: '--max-old-space-size=48' }, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`imported ${samples + 1} of ${samples + 1} records \\(trace\\) .*\\(2 line\\(s\\) skipped; `));
  assert.match(r.stdout, /line 1003: "usedMiB" 9000 is more than the device's totalMiB 8192/);
  assert.match(r.stdout, /line 2004: GPU 0 reported the error "GPU_IS_LOST" instead of memory figures/);
  const [lines] = [...(await historyLines(history)).values()];
  assert.equal(lines!.length, samples + 1, 'every sample and the event are on disk');
  assert.equal(lines!.filter((l) => l.includes('"model loaded"')).length, 1);
});

test("a log stamped in the future → no live history file deleted (the cleanup never runs on the log's clock); the future records left out and counted", async () => {
  const history = join(dir, 'live-history');
  await mkdir(history);
  // Three live files (three windows, or restarts) written in the last few minutes.
  const live = new Map<string, string>();
  for (let i = 0; i < 3; i++) {
    const start = NOW - 300_000 + i * 60_000;
    const text = `{"t":${start},"g":[[0,${(1000 + i) * MiB},${4096 * MiB}]]}\n{"t":${start + 1000},"g":[[0,${(1100 + i) * MiB},${4096 * MiB}]]}\n`;
    live.set(`history-${start}.jsonl`, text);
    await writeFile(join(history, `history-${start}.jsonl`), text);
  }
  const year = 365 * 86_400_000;
  const future = join(dir, 'future.jsonl');
  await writeLines(
    future,
    [0, 1, 2].map((i) => `{"t":${NOW + year + i * 1000},"g":[[0,${2000 * MiB},${4096 * MiB}]]}`),
  );
  const r = await runCli(['history', 'import', future, '--dir', history]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(
    r.stderr,
    /all 3 records in \S+future\.jsonl are stamped in the future \(the latest \d{4}-.*Z, while this machine's clock reads .*\), so the dashboard would not show them; nothing was added/,
  );
  for (const [name, text] of live) assert.equal(await readFile(join(history, name), 'utf8'), text, `${name} was changed or deleted`);
  assert.deepEqual((await readdir(history)).sort(), [...live.keys()].sort(), 'nothing added, nothing left behind');

  // Mixed: one record now, two in the future: one imported, two counted, the live files untouched.
  const mixed = join(dir, 'mixed.jsonl');
  await writeLines(
    mixed,
    [NOW - 1000, NOW + year, NOW + year + 1000].map((t) => `{"t":${t},"g":[[0,${2000 * MiB},${4096 * MiB}]]}`),
  );
  const m = await runCli(['history', 'import', mixed, '--dir', history]);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stdout, /imported 1 of 3 records \(jsonl\) .*\(2 stamped in the future left out \(the latest /);
  for (const [name, text] of live) assert.equal(await readFile(join(history, name), 'utf8'), text, `${name} was changed or deleted`);
  assert.equal((await readdir(history)).length, 4);
});

test('a log with implausible figures and samples out of time order → those lines skipped, each counted with why; the rest imported', async () => {
  const path = join(dir, 'odd.jsonl');
  const line = (t: number, gpu: number, used: number, total = 4096 * MiB) => `{"t":${t},"g":[[${gpu},${used},${total}]]}`;
  await writeLines(path, [
    line(NOW - 5000, 0, 1000 * MiB),
    line(NOW - 4000, 0, 9e99),
    line(NOW - 3000, 99_999_999, 1000 * MiB),
    line(NOW - 6000, 0, 1000 * MiB),
    line(NOW - 2000, 0, 1001 * MiB),
  ]);
  const history = join(dir, 'odd-history');
  const r = await runCli(['history', 'import', path, '--dir', history]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 2 of 2 records \(jsonl\) .*\(3 line\(s\) skipped; /);
  assert.match(r.stdout, /line 2: not plausible: GPU memory used above its total/);
  assert.match(r.stdout, /line 3: not plausible: a GPU index above 1023/);
  assert.match(r.stdout, /line 4: time \S+ is earlier than the sample before it/);
  const [lines] = [...(await historyLines(history)).values()];
  assert.deepEqual(
    lines!.map((l) => (JSON.parse(l) as { g: number[][] }).g[0]![1]! / MiB),
    [1000, 1001],
  );
});

test('history import of a FIFO → exit 1 at once, saying it is a named pipe, not a regular file; nothing added', { timeout: 30_000 }, async () => {
  const fifo = join(dir, 'log.csv');
  await promisify(execFile)('mkfifo', [fifo]);
  const history = join(dir, 'fifo-history');
  const r = await runCli(['history', 'import', fifo, '--dir', history], {}, { timeoutMs: 20_000 });
  assert.equal(r.code, 1, `the CLI ${r.code === null ? 'hung and was killed' : `exited ${r.code}`}`);
  assert.match(r.stderr, /cannot read \S+log\.csv: \S+log\.csv is a named pipe \(FIFO\), not a regular file/);
  assert.equal(existsSync(history), false, 'nothing was created');
});
