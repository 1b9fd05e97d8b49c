/**
 * The load report parser against the real llama-server (llama.cpp v0.5.0, the CPU build under
 * `.llama/build/server-cpu`), run at test time on a tiny generated model: plain at `-lv 4`, at `-v`
 * (which also shows the no-allocation pass of --fit), as `--log-jsonl`, and at the default verbosity.
 * Every expected figure is one llama.cpp printed in the same run: the buffer lines are checked
 * against its memory breakdown table and its `llama_kv_cache: size = …` line, and the runs against
 * each other. A missing binary fails with how to set it up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { type BreakdownRow, isHostBuffer, type LoadReport, LoadReportParser, type PrintedBuffer } from '../../../src/core/estimate/load-report.ts';
import { MiB } from '../../../src/core/units.ts';
import { fixtureDir } from '../../helpers/gguf-fixtures.ts';
import { realLlama, tinyLlamaModel } from '../../helpers/real-llama-server.ts';

let SERVER = '';
let model = '';

before(async () => {
  // The built llama-server (a clear failure naming the setup command when it is missing) and a tiny model it loads.
  SERVER = realLlama().server;
  model = await tinyLlamaModel('load-report-tiny', 4096);
});

after(async () => {
  await rm(await fixtureDir(), { recursive: true, force: true });
});

interface Run {
  report: LoadReport;
  rejected: number;
  text: string;
}

/**
 * Runs llama-server on the tiny model until it listens and its task loop answers (`/slots` goes
 * through it: a SIGTERM between "listening on" and the loop's start is lost in this build), then
 * stops it with SIGTERM, which makes it print its memory breakdown as it stops.
 */
function runServer(extra: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const args = ['-m', model, '-c', '512', '-t', '1', '--host', '127.0.0.1', '--port', '0', '--no-webui', '--slots', ...extra];
    const child = spawn(SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const parser = new LoadReportParser();
    let text = '';
    let stopping = false;
    const take = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      parser.push(chunk, stream);
      text += chunk.toString('utf8');
      const listening = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (!stopping && listening) {
        stopping = true;
        fetch(`${listening[1]}/slots`)
          .then((r) => r.arrayBuffer())
          .catch(() => {})
          .finally(() => child.kill('SIGTERM'));
      }
    };
    child.stdout.on('data', take('stdout'));
    child.stderr.on('data', take('stderr'));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      parser.end();
      if (!stopping) reject(new Error(`llama-server ${args.join(' ')} exited (${code ?? signal}) before it listened:\n${text.slice(-3000)}`));
      else resolve({ report: parser.report(), rejected: parser.rejected, text });
    });
  });
}

/** The buffers a breakdown row counts: its own buffer type, or for "Host" every host buffer no other row names. */
function rowBuffers(row: BreakdownRow, rows: BreakdownRow[], buffers: PrintedBuffer[]): PrintedBuffer[] {
  if (row.kind === 'buffer_type') return buffers.filter((b) => b.buffer === row.name);
  const named = new Set(rows.filter((r) => r.kind === 'buffer_type').map((r) => r.name));
  return buffers.filter((b) => isHostBuffer(b.buffer) && !named.has(b.buffer));
}

/** Within 1 MiB: the table prints whole MiB rounded down, the lines two decimals. */
function closeTo(bytes: number, mibs: number, what: string) {
  assert.ok(Math.abs(bytes / MiB - mibs) <= 1, `${what}: the buffer lines sum to ${(bytes / MiB).toFixed(2)} MiB, the table printed ${mibs} MiB`);
}

let plain: Run;

test('at -lv 4 the real llama-server prints its load report, and every part agrees with its own memory breakdown table', { timeout: 120_000 }, async () => {
  plain = await runServer(['-lv', '4']);
  const r = plain.report;
  assert.equal(r.complete, true, plain.text.slice(-2000));
  assert.equal(plain.rejected, 0);
  for (const part of ['model', 'kv', 'output', 'compute'] as const)
    assert.ok(
      r.buffers.some((b) => b.part === part && b.bytes > 0),
      `a ${part} buffer line`,
    );
  assert.ok(r.breakdown.length > 0, 'the table printed as it stopped');
  const sum = (bs: PrintedBuffer[], parts: string[]) => bs.filter((b) => parts.includes(b.part)).reduce((a, b) => a + b.bytes, 0);
  for (const row of r.breakdown) {
    const bs = rowBuffers(row, r.breakdown, r.buffers);
    closeTo(sum(bs, ['model']), row.modelMiB, `${row.name} model`);
    closeTo(sum(bs, ['kv', 'rs', 'output']), row.contextMiB, `${row.name} context`);
    closeTo(sum(bs, ['compute']), row.computeMiB, `${row.name} compute`);
  }
  // The KV cache's own summary line: "llama_kv_cache: size =    1.00 MiB (   512 cells, ...".
  const size = /llama_kv_cache: size = +([\d.]+) MiB/.exec(plain.text);
  assert.ok(size, 'the KV cache size line');
  assert.equal(sum(r.buffers, ['kv']), Math.round(Number(size[1]) * MiB));
});

test('at -v the no-allocation pass of --fit (0.00 MiB model buffers) is printed first and dropped: the report is the real load', {
  timeout: 120_000,
}, async () => {
  const v = await runServer(['-v']);
  assert.match(v.text, /model buffer size = +0\.00 MiB/, 'the no-allocation pass was printed');
  assert.equal(v.report.complete, true);
  assert.deepEqual(v.report.buffers, plain.report.buffers);
});

test('as --log-jsonl the same buffers are read from the JSON lines, and the JSON breakdown table matches the plain one', { timeout: 120_000 }, async () => {
  const j = await runServer(['-lv', '4', '--log-jsonl']);
  assert.match(j.text, /^\{"type":"log"/m);
  assert.match(j.text, /"type":"fit_memory_breakdown"/);
  assert.equal(j.report.complete, true);
  assert.equal(j.rejected, 0);
  assert.deepEqual(j.report.buffers, plain.report.buffers);
  assert.deepEqual(j.report.breakdown, plain.report.breakdown);
});

test("at llama-server's default verbosity no load report is printed (what loadReport's -lv 4 is for)", { timeout: 120_000 }, async () => {
  const d = await runServer([]);
  assert.doesNotMatch(d.text, /buffer size/);
  assert.deepEqual(d.report, { buffers: [], breakdown: [], complete: false });
});
