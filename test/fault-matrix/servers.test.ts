/**
 * Fault matrix: model servers that misbehave — at start, on stop, in their API replies and in their
 * output. The real llama-server (a CPU build) where it can show the fault — a model it cannot load,
 * a load that never ends — and emulated servers (test/fixtures/servers) for the rest, all as child
 * processes on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { collectLedger } from '../../src/core/servers/ledger.ts';
import type { ManagedServer } from '../../src/core/servers/managed-server.ts';
import { ServerProcess } from '../../src/core/servers/server-process.ts';
import { serverCards } from '../../src/vscode/dashboard/dashboard-data.ts';
import { privateDir, realLlama } from '../helpers/real-llama-server.ts';
import { ServerHarness } from '../helpers/server-harness.ts';
import { alive, emulatorCommand, freePort, PidRegister } from '../helpers/servers.ts';
import { MiB } from '../../src/core/units.ts';

let h: ServerHarness;
let dir: string;
const pids = new PidRegister();
before(async () => {
  h = await ServerHarness.create();
  dir = await privateDir();
});
after(async () => {
  await h?.dispose();
  pids.killAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What the dashboard's card shows for a running server, and what the log says about it. */
async function dashboardCard(s: ManagedServer) {
  const logs: string[] = [];
  const ledger = await collectLedger(
    await h.source.sample(Date.now()),
    h.registry.owners().filter((o) => o.name === s.name),
    { timeoutMs: 800, log: (m) => logs.push(m), told: new Map() },
  );
  const card = serverCards([s], ledger)[0]!;
  return { card, logs };
}

async function startedTask(name: string, kind: 'ollama' | 'llama-server', args: string[]) {
  const s = await h.task(name, kind, args);
  const r = await s.start({ skipGate: true });
  assert.ok(r.ok, JSON.stringify(r));
  pids.add(s.pid);
  return s;
}

test('server exits during start → the task fails with its exit code and last log lines, nothing left running', async () => {
  // The real llama-server, told to load a model that is not there.
  const s = await h.task('early-exit', 'llama-server', ['-m', join(dir, 'missing.gguf')], { command: [realLlama().server] });
  const r = await s.start({ skipGate: true });
  assert.equal(r.ok, false);
  assert.equal(s.state, 'failed');
  assert.match(r.ok ? '' : r.message, /exited during start-up with exit code 1/);
  const terminal = h.logs.get('early-exit')!.join('\n');
  assert.match(terminal, /srv +load_model: failed to load model, '\S+missing\.gguf'/, 'the last log lines name the cause');
  assert.match(terminal, /exiting due to model loading error/);
  assert.equal(s.pid, null);
});

test('server ignores SIGTERM → killed with SIGKILL after the stop timeout, the whole tree gone', async () => {
  const s = await startedTask('deaf', 'llama-server', ['-m', 'model.gguf', '--ignore-sigterm']);
  const pid = s.pid!;
  const r = await s.stop('test');
  assert.equal(r?.how, 'SIGKILL');
  assert.ok(r!.waitedMs >= h.stopTimeoutMs - 50, `waited ${r!.waitedMs} ms`);
  assert.match(h.logs.get('deaf')!.join('\n'), /ignored SIGTERM for \d+\.\d s and was killed \(SIGKILL/);
  assert.equal(alive(pid), false);
  assert.equal(s.state, 'stopped');
});

test('health answers 503 forever → the start times out naming the last answer, and the server is stopped', async () => {
  // The real llama-server, its model a FIFO nobody writes: its open of the model waits, and /health
  // answers 503 "Loading model" all along.
  const fifo = join(dir, 'never.gguf');
  await promisify(execFile)('mkfifo', [fifo]);
  const s = await h.task('loading-forever', 'llama-server', ['-m', fifo], { command: [realLlama().server], startTimeoutSeconds: 1.5 });
  const r = await s.start({ skipGate: true });
  pids.add(s.process?.pid);
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.message, /did not become ready within 1\.5 s: http:\/\/127\.0\.0\.1:\d+\/health last said HTTP 503/);
  assert.equal(s.state, 'failed');
  assert.equal(alive(s.process!.pid!), false, 'the server that never became ready is still running');
});

test('server answers garbage instead of JSON → state "unknown" quoting the reply, never "healthy, no models"', async () => {
  const s = await startedTask('garbage', 'ollama', ['--reply', 'garbage']);
  const { card, logs } = await dashboardCard(s);
  assert.equal(card.health, 'unknown');
  assert.deepEqual(card.models, []);
  assert.match(card.error ?? '', /GET \/api\/ps answered HTTP 200 with "<!DOCTYPE html><html><body><h1>It works!/);
  assert.equal(logs.length, 1);
  assert.match(logs[0]!, /server "garbage" \(ollama\) state unknown: GET \/api\/ps answered HTTP 200/);
  await s.stop();
});

test('server answers JSON of the wrong types → state "unknown" naming the wrong field', async () => {
  const ollama = await startedTask('wrong-types-ollama', 'ollama', ['--reply', 'wrong-types']);
  const llama = await startedTask('wrong-types-llama', 'llama-server', ['-m', 'model.gguf', '-c', '4096', '--reply', 'wrong-types']);
  const o = await dashboardCard(ollama);
  assert.equal(o.card.health, 'unknown');
  assert.match(o.card.error ?? '', /"models" is the text "lots", not a list/);
  const l = await dashboardCard(llama);
  assert.equal(l.card.health, 'unknown');
  assert.match(l.card.error ?? '', /GET \/props has no "default_generation_settings" object/);
  assert.equal(l.card.context, 4096, "the context shown falls back to the task's own -c, not a figure from the reply");
  await Promise.all([ollama.stop(), llama.stop()]);
});

test('server reports absurd figures → those figures dropped with a note, the model still listed', async () => {
  const s = await startedTask('absurd', 'ollama', ['--absurd']);
  const load = await fetch(`${s.baseUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2:3b', prompt: 'hi', stream: false }) });
  assert.equal(load.status, 200);
  const { card, logs } = await dashboardCard(s);
  assert.equal(card.health, 'healthy');
  assert.deepEqual(card.models, [{ name: 'llama3.2:3b', vramMiB: null, context: null }]);
  assert.equal(card.reportedMiB, null, 'a petabyte "size_vram" must not reach the ledger');
  assert.match(card.error ?? '', /ignored llama3\.2:3b size_vram 1152921504606847000: no real server reports that; ignored llama3\.2:3b context_length 1e\+30/);
  assert.match(logs[0] ?? '', /partly read/);
  await s.stop();
});

test('server sends a 64 MiB reply → not read past 1 MiB, state "unknown"', async () => {
  const s = await startedTask('huge', 'ollama', ['--reply', 'huge']);
  const heap = process.memoryUsage().heapUsed;
  const { card } = await dashboardCard(s);
  assert.equal(card.health, 'unknown');
  assert.match(card.error ?? '', new RegExp(`more than the ${MiB} bytes read from a model server \\(HTTP 200\\); it was cut off`));
  assert.ok(process.memoryUsage().heapUsed - heap < 32 * MiB, 'the reply was buffered');
  await s.stop();
});

test('server reply never ends → cut off at the time limit, state "unknown"', async () => {
  const s = await startedTask('endless', 'ollama', ['--reply', 'endless']);
  const t0 = performance.now();
  const { card } = await dashboardCard(s);
  assert.ok(performance.now() - t0 < 5000, 'the dashboard waited on an endless reply');
  assert.equal(card.health, 'unknown');
  assert.match(card.error ?? '', /the reply did not end within 0\.8 s \(HTTP 200\); it was cut off/);
  await s.stop();
});

test('port already in use by another process → "port N is already in use by another process", nothing started', async () => {
  const port = await freePort();
  const squatter: Server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  try {
    const s = await h.task('port-taken', 'llama-server', [], { port, args: ['-m', 'model.gguf', '--port', String(port)] });
    const r = await s.start({ skipGate: true });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, new RegExp(`^Port ${port} is already in use by another process`));
    assert.equal(s.state, 'failed');
    assert.equal(s.process, null, 'a server was started on a taken port');
    assert.match(h.logs.get('port-taken')!.join('\n'), new RegExp(`Port ${port} is already in use`));
  } finally {
    squatter.close();
  }
});

async function floodStart(extra: string[]) {
  const port = await freePort();
  const [cmd, ...base] = emulatorCommand('llama-server');
  const p = new ServerProcess({
    command: cmd!,
    args: [...base, '-m', 'model.gguf', '--port', String(port), ...extra],
    healthUrl: `http://127.0.0.1:${port}/health`,
    startTimeoutMs: 30_000,
    stopTimeoutMs: 2000,
    healthIntervalMs: 25,
  });
  let bytes = 0;
  p.on('output', (t) => (bytes += t.length));
  const heap = process.memoryUsage().heapUsed;
  const r = await p.start();
  pids.add(p.pid);
  const grown = process.memoryUsage().heapUsed - heap;
  return { p, r, bytes, grown };
}

test('server writes 100 MB without a newline → started, the unfinished line cut to 2000 characters, memory bounded', async () => {
  const { p, r, bytes, grown } = await floodStart(['--flood-mb', '100']);
  assert.ok(r.ok, JSON.stringify(r).slice(0, 500));
  assert.ok(bytes >= 100 * MiB, `only ${bytes} bytes reached the output listeners`);
  const lines = p.lastLines();
  const cut = lines.find((l) => l.includes('more characters'));
  assert.ok(cut, `no cut line in ${JSON.stringify(lines.map((l) => l.slice(0, 60)))}`);
  assert.match(cut, /^x{2000}… \(104855600 more characters\)$/);
  assert.ok(
    lines.some((l) => l === 'flood: done'),
    'the lines after the flood are kept',
  );
  assert.ok(grown < 64 * MiB, `the heap grew by ${Math.round(grown / MiB)} MiB`);
  await p.stop();
});

test('server floods its output with lines and progress redraws → started, only the last lines kept', async () => {
  const { p, r, grown } = await floodStart(['--flood-mb', '50', '--flood-lines']);
  assert.ok(r.ok, JSON.stringify(r).slice(0, 500));
  const lines = p.lastLines();
  assert.equal(lines.length, 20);
  assert.ok(
    lines.every((l) => l.length <= 2100 && !l.includes('\r')),
    'a kept line holds a carriage return or is not cut',
  );
  assert.ok(
    lines.some((l) => /main: model loaded/.test(l)),
    "the server's real messages after the flood are kept",
  );
  assert.ok(!lines.some((l) => / 42%$/.test(l)), 'a progress redraw was kept beside the line that replaced it');
  assert.ok(grown < 64 * MiB, `the heap grew by ${Math.round(grown / MiB)} MiB`);
  await p.stop();
});
