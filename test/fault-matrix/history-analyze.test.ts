/**
 * Fault matrix: what `vram-guard history analyze` is given — traces with gaps of hours, time going
 * backwards, GPUs interleaved, a spreadsheet's CSV, a million lines, a history folder being written —
 * through the built dist/cli.cjs (and, for the long stream, the same reader in-process, where its
 * memory can be measured). Each test checks the message, the exit code and that what could be read
 * was judged. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HistoryStore } from '../../src/core/history/store.ts';
import { TrendAnalyzer } from '../../src/core/trend/analysis.ts';
import { readTrendInput } from '../../src/core/trend/history-input.ts';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import { MiB } from '../helpers/fake-nvml.ts';
import { leakTrace, steadyTrace } from '../helpers/trend-corpus.ts';

const UTC = { TZ: 'UTC' };
const T0 = Date.parse('2026-03-02T06:00:00Z');
const HOUR = 3_600_000;

before(() => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
});

async function file(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-analyze-'));
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const header = (totalMiB = 8192) => JSON.stringify({ vramGuardTrace: 1, title: 'fault', devices: [{ index: 0, name: 'GPU', totalMiB }] });
const row = (t: number, usedMiB: number, gpu = 0) => JSON.stringify({ t: new Date(t).toISOString(), gpu, usedMiB });

test('trace with gaps of hours → judged across them as steady, the longest gap named with its times', async () => {
  const lines = [header()];
  for (let s = 0; s < 3600; s += 10) lines.push(row(T0 + s * 1000, 3000));
  for (let s = 0; s < 3600; s += 10) lines.push(row(T0 + 5 * HOUR + s * 1000, 3000));
  const r = await runCli(['history', 'analyze', await file('gaps.jsonl', `${lines.join('\n')}\n`)], UTC);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^GPU 0 of 8192 MiB: steady for 5 h 59 min — not a leak$/m);
  assert.match(r.stderr, /no samples from 2026-03-02T06:59:50\.000Z to 2026-03-02T11:00:00\.000Z \(4 h\): judged across the gap/);
});

test('samples going back in time → each such line skipped and named with its number, the rest judged', async () => {
  const lines = ['time,gpu,used_mib,total_mib,ram_used_mib,ram_total_mib,swap_used_mib,swap_total_mib,event_kind,event'];
  for (let s = 0; s < 1800; s += 10) lines.push(`${new Date(T0 + s * 1000).toISOString()},0,2000,8192,,,,,,`);
  lines.splice(50, 0, `${new Date(T0 - HOUR).toISOString()},0,7000,8192,,,,,,`);
  const r = await runCli(['history', 'analyze', await file('backwards.csv', `${lines.join('\n')}\n`)], UTC);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /line 51: time 2026-03-02T05:00:00\.000Z is earlier than the sample before it for GPU 0: skipped/);
  assert.match(r.stdout, /^GPU 0 of 8192 MiB: steady for 29 min — not a leak$/m, 'the line from the past is no step');
});

test('two GPUs interleaved in one log → each judged on its own: the leak on one, steady on the other', async () => {
  const leak = leakTrace(500);
  const flat = steadyTrace();
  const lines = ['timestamp, index, memory.used [MiB], memory.total [MiB]'];
  const smiTime = (t: number) => new Date(t).toISOString().replace('T', ' ').replace('Z', '').replace(/-/g, '/');
  for (let i = 0; i < leak.t.length; i += 5) {
    const t = leak.t[i] as number;
    lines.push(`${smiTime(t)}, 1, ${Math.round(flat.usedMiB[i] as number)} MiB, 4096 MiB`);
    lines.push(`${smiTime(t)}, 0, ${Math.round(leak.usedMiB[i] as number)} MiB, 24576 MiB`);
  }
  const r = await runCli(['history', 'analyze', await file('two.csv', `${lines.join('\n')}\n`), '--json'], UTC);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { gpus: Array<{ gpu: number; verdict: string; leak: { rateMiBPerHour: number } | null }> };
  assert.deepEqual(
    out.gpus.map((g) => g.gpu),
    [0, 1],
  );
  assert.ok(out.gpus[0]?.leak && Math.abs(out.gpus[0].leak.rateMiBPerHour - 500) < 50, out.gpus[0]?.verdict);
  assert.equal(out.gpus[1]?.leak, null);
  assert.match(out.gpus[1]?.verdict ?? '', /^steady for 5 h — not a leak$/);
});

test('CSV saved by a spreadsheet in another locale (semicolons, decimal commas) → exit 1 saying so and what to give instead', async () => {
  const text = 'timestamp; index; memory.used [MiB]; memory.total [MiB]\n2025/10/31 07:14:55,412; 0; 3600 MiB; 4096 MiB\n';
  const r = await runCli(['history', 'analyze', await file('de.csv', text)], UTC);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /de\.csv: the first line is separated by semicolons .*export it with commas, or give the original log/);
});

test('log of a million lines → streamed, keeping only the analysis buckets (under 16 MB after reading), every sample counted', async () => {
  const N = 1_000_000;
  function* chunks(): Generator<string> {
    yield '{"vramGuardHistory":1,"title":"long"}\n';
    for (let i = 0; i < N; i += 5000) {
      let chunk = '';
      for (let j = i; j < i + 5000; j++) chunk += `{"t":${T0 + j * 1000},"g":[[0,${(3000 + (j % 5)) * MiB},${8192 * MiB}]]}\n`;
      yield chunk;
    }
  }
  const gc = collector();
  gc();
  const before = process.memoryUsage().heapUsed;
  const analyzer = new TrendAnalyzer();
  await readTrendInput(Readable.from(chunks()), 'long.jsonl', analyzer);
  gc();
  const kept = process.memoryUsage().heapUsed - before;
  const a = analyzer.analyze(0);
  assert.equal(a?.samples, N);
  assert.equal(a?.verdict.text, 'steady for 11 d 13 h — not a leak');
  assert.ok(kept < 16 * MiB, `the analysis keeps ${Math.round(kept / 1e6)} MB after reading`);
});

/** The garbage collector, to measure what is kept (not what is waiting to be collected). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

test('history folder another process is writing (its newest file ends in half a line) → the complete records judged, the half line left out and said', async () => {
  const state = await mkdtemp(join(tmpdir(), 'vram-guard-fault-analyze-'));
  const history = join(state, 'history');
  const store = new HistoryStore({ dir: history, flushMs: 10 });
  const now = Date.now();
  for (let i = 0; i < 1200; i++) store.record({ t: now - 1_200_000 + i * 1000, gpus: [{ gpu: 0, used: 2500 * MiB, total: 8192 * MiB }], system: null });
  await store.close();
  const [newest] = (await readdir(history)).sort().reverse();
  assert.ok(newest);
  await appendFile(join(history, newest), `{"t":${now},"g":[[0,26214`);
  const r = await runCli(['history', 'analyze'], { ...UTC, VRAM_GUARD_STATE_DIR: state });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^GPU 0 of 8192 MiB: steady for 19 min — not a leak$/m);
  assert.match(r.stdout, /1200 samples/);
  assert.match(r.stderr, /1 file\(s\) end in a line still being written: left out/);
});

test('trace with a broken line in the middle → that line skipped and named with its number, the rest judged', async () => {
  const lines = [header()];
  for (let s = 0; s < 1800; s += 10) lines.push(row(T0 + s * 1000, 3000));
  lines.splice(40, 0, '{"t": "2026-03-02T06:06:30Z", "gpu": 0, "usedMiB": ');
  const r = await runCli(['history', 'analyze', await file('broken.jsonl', `${lines.join('\n')}\n`)], UTC);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /line 41: not valid JSON/);
  assert.match(r.stdout, /^GPU 0 of 8192 MiB: steady for 29 min — not a leak$/m);
  assert.match(r.stdout, /180 samples/);
});

test('file that is no history, trace or nvidia-smi log → exit 1 naming the file and what its first line reads', async () => {
  const r = await runCli(['history', 'analyze', await file('notes.txt', 'Dear diary, the GPU was slow today.\n')], UTC);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /notes\.txt: the first line is not a VRAM Guard history, a VRAM Guard trace, or an nvidia-smi --query-gpu CSV log \(it reads "Dear diary/,
  );
});

test('--gpu naming a GPU the file does not have → exit 1 naming the GPUs it has', async () => {
  const lines = [header()];
  for (let s = 0; s < 600; s += 10) lines.push(row(T0 + s * 1000, 3000));
  const r = await runCli(['history', 'analyze', await file('one.jsonl', `${lines.join('\n')}\n`), '--gpu', '3'], UTC);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no samples of GPU 3 \(it has GPU 0\)/);
});

test('file that does not exist → exit 1 with the reason', async () => {
  const r = await runCli(['history', 'analyze', join(tmpdir(), 'no-such-vram-guard-trace.jsonl')], UTC);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read .*no-such-vram-guard-trace\.jsonl: ENOENT/);
});
