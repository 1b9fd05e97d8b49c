/**
 * Faults at the VRAM gate of a `vram-guard` task: bad arguments, a missing model, a gate that
 * breaks, and the files the gate shares (measured footprints, reservations). Each ends the task
 * with a sentence that says what is wrong — never a task left "checking" — or, for a shared file,
 * goes on without it and keeps what was recorded.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FootprintStore } from '../../src/core/estimate/measured-footprints.ts';
import { GpuLock } from '../../src/core/servers/gpu-lock.ts';
import { ManagedServer } from '../../src/core/servers/managed-server.ts';
import { preflightGate } from '../../src/core/checks/preflight-gate.ts';
import { ReservationBook } from '../../src/core/servers/reservations.ts';
import { validateTaskDefinition } from '../../src/core/servers/task-definition.ts';
import { parseSize, type SizeSpec } from '../../src/core/units.ts';
import { parseThresholds } from '../../src/core/watch/thresholds.ts';
import { LLAMA_32_3B, writeGguf } from '../helpers/gguf-fixtures.ts';
import { baseGpu, ServerHarness } from '../helpers/server-harness.ts';

let h: ServerHarness;
let dir: string;
let model: string;

before(async () => {
  h = await ServerHarness.create({ devices: [baseGpu()] });
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-gate-faults-'));
  model = await writeGguf('gate-faults-llama-3.2-3b', LLAMA_32_3B, { sparse: true });
});
after(async () => h.dispose());

const logOf = (name: string) => (h.logs.get(name) ?? []).join('\n');

test('task arguments llama-server would refuse (-ctk q3) → the task definition is refused naming the flag; nothing starts', async () => {
  await assert.rejects(
    h.task('bad-args', 'llama-server', ['-m', model, '-ctk', 'q3']),
    /Task "bad-args": The llama-server arguments cannot be read: -ctk must be one of f32, f16, bf16, q8_0, .*not "q3"\./,
  );
});

test('an inherited LLAMA_ARG_* variable llama-server would refuse → the task ends at once naming it, never left "checking"', async () => {
  h.gateEnv = { LLAMA_ARG_CACHE_TYPE_K: 'q3' };
  try {
    const s = await h.task('bad-env', 'llama-server', ['-m', model]);
    const r = await s.start();
    assert.equal(r.ok, false);
    assert.equal(s.state, 'failed');
    assert.equal(s.pid, null, 'nothing was started');
    assert.match(
      r.ok ? '' : r.message,
      /"bad-env" was not started: The llama-server arguments cannot be read: environment variable LLAMA_ARG_CACHE_TYPE_K must be one of f32, f16, .*not "q3"\./,
    );
    assert.match(logOf('bad-env'), /LLAMA_ARG_CACHE_TYPE_K must be one of/);
    assert.equal(r.ok ? undefined : r.gate, undefined, 'not a refusal to override with "Start anyway"');
  } finally {
    h.gateEnv = {};
  }
});

test('the task\'s model file is missing → refused with "the file does not exist", the task ends', async () => {
  const s = await h.task('no-model-file', 'llama-server', ['-m', join(dir, 'missing.gguf'), '-c', '4096']);
  const r = await s.start();
  assert.equal(r.ok, false);
  assert.equal(s.state, 'refused');
  assert.match(
    logOf('no-model-file'),
    /VRAM gate: FAIL — Not started: no-model-file: No estimate: .*\n.*Estimated need: No estimate: \S+missing\.gguf could not be read: the file does not exist\./,
  );
});

test('the GPU read throws during the gate → the task ends with the reason, never left "checking"', async () => {
  const v = validateTaskDefinition({ type: 'vram-guard', server: 'llama-server', args: ['-m', model], port: 1 }, 'gpu-throws');
  assert.ok(v.ok);
  const s = new ManagedServer(v.task, {
    readGpu: async () => {
      throw new Error('NVML_ERROR_GPU_IS_LOST');
    },
    gate: preflightGate(() => ({
      margin: parseSize('256MiB') as SizeSpec,
      residualThreshold: parseSize('100MiB') as SizeSpec,
      thresholds: parseThresholds({}, '2%').spec,
    })),
    lock: new GpuLock(),
    stopTimeoutMs: 1000,
  });
  const states: string[] = [];
  s.on('state', (st) => states.push(st));
  const r = await s.start();
  assert.equal(r.ok, false);
  assert.deepEqual(states, ['checking', 'failed']);
  assert.match(r.ok ? '' : r.message, /"gpu-throws" was not started: the VRAM gate could not run: NVML_ERROR_GPU_IS_LOST\./);
});

test('an Ollama model that is not in the store → the task ends naming the model and OLLAMA_MODELS', async () => {
  h.gateEnv = { OLLAMA_MODELS: join(dir, 'ollama-models') };
  try {
    const s = await h.task('ollama-missing', 'ollama', [], { model: 'qwen3:8b' });
    const r = await s.start();
    assert.equal(s.state, 'failed');
    assert.match(
      r.ok ? '' : r.message,
      /Ollama's store has no model "qwen3:8b" \(no \S+manifests\/registry\.ollama\.ai\/library\/qwen3\/8b\)\. Pull it first \(ollama pull qwen3:8b\), or set OLLAMA_MODELS/,
    );
  } finally {
    h.gateEnv = {};
  }
});

test('the measured-footprints file is not JSON → a log line, the estimate is used, the file set aside (not deleted)', async () => {
  const stateDir = await mkdtemp(join(dir, 'state-'));
  await writeFile(join(stateDir, 'measured-footprints.json'), '{"version": 1, "footprints": [ {"key": trunc');
  const logs: string[] = [];
  h.footprints = new FootprintStore(stateDir, (m) => logs.push(m));
  try {
    const s = await h.task('footprints-corrupt', 'llama-server', ['-m', model, '-c', '4096', '-np', '1', '--weights-mib', '1918']);
    const r = await s.start();
    assert.ok(r.ok, logOf('footprints-corrupt'));
    assert.match(logOf('footprints-corrupt'), /Estimated need: /);
    assert.match(logs.join('\n'), /measured-footprints\.json was set aside as \S+\.corrupt-\d+ because it is not JSON/);
    const files = await readdir(stateDir);
    const aside = files.find((f) => f.includes('.corrupt-'));
    assert.ok(aside, 'the unreadable file is kept');
    assert.equal(await readFile(join(stateDir, aside), 'utf8'), '{"version": 1, "footprints": [ {"key": trunc');
    await s.stop('test');
  } finally {
    h.footprints = undefined;
  }
});

test('the reservations file holds garbage → nothing reserved is assumed, the gate passes and replaces it', async () => {
  const path = join(dir, 'garbage-reservations.json');
  await writeFile(path, '\u0000\u0001 not json at all');
  h.reservations = new ReservationBook(path);
  try {
    const s = await h.task('reservations-garbage', 'llama-server', ['--weights-mib', '1000', '--kv-mib-per-1k', '0'], { needs: '1GiB' });
    const r = await s.start();
    assert.ok(r.ok, logOf('reservations-garbage'));
    assert.match(logOf('reservations-garbage'), /VRAM gate: PASS — 6728 MiB free ≥ 1024 MiB needed/);
    const written = JSON.parse(await readFile(path, 'utf8'));
    assert.equal(written.version, 1);
    await s.stop('test');
  } finally {
    h.reservations = undefined;
  }
});

test('a reservation lock file left by a process that is gone → not held, the gate goes on at once', async () => {
  const path = join(dir, 'stale-lock-reservations.json');
  // What a holder that died leaves (PID 2^22 + 1 is above Linux's pid_max: no such process): the
  // file stays, its OS lock went with the process.
  await writeFile(`${path}.lock`, JSON.stringify({ pid: 2 ** 22 + 1, since: Date.now(), name: 'reservations' }));
  // No time to wait at all: the lock must be free at the first try, and the reservation written.
  h.reservations = new ReservationBook(path, { lockWaitMs: 0 });
  const logged = h.gateLog.length;
  try {
    const s = await h.task('stale-lock', 'llama-server', ['--weights-mib', '1000', '--kv-mib-per-1k', '0'], { needs: '1GiB' });
    const r = await s.start();
    assert.ok(r.ok, logOf('stale-lock'));
    assert.doesNotMatch(h.gateLog.slice(logged).join('\n'), /could not be used/, 'the reservation was written without waiting for a dead holder');
    await s.stop('test');
  } finally {
    h.reservations = undefined;
  }
});
