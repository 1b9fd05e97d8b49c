/**
 * Fault matrix: a model path that names something other than a regular file — a named pipe (FIFO)
 * that no one writes to. Opening one for reading waits for a writer forever, so it must be refused
 * from its type before it is read: by the GGUF reader (a task's gate, `preflight --model`) and by
 * the measured-footprints identity. A real FIFO made with mkfifo; the CLI as a real process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { modelIdentity } from '../../src/core/estimate/measured-footprints.ts';
import { buildFakeNvml, FakeNvmlState, GiB } from '../helpers/fake-nvml.ts';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import { baseGpu, ServerHarness } from '../helpers/server-harness.ts';

let dir: string;
let fifo: string;
let h: ServerHarness;

before(async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-model-file-'));
  fifo = join(dir, 'model.gguf');
  await promisify(execFile)('mkfifo', [fifo]);
  h = await ServerHarness.create({ devices: [baseGpu()] });
});
after(async () => {
  await h.dispose();
  await rm(dir, { recursive: true, force: true });
});

test('a task whose model is a FIFO → refused at once as "a named pipe (FIFO), not a regular file"; the task ends, never left "checking"', {
  timeout: 20_000,
}, async () => {
  const s = await h.task('fifo-model', 'llama-server', ['-m', fifo, '-c', '4096']);
  const states: string[] = [];
  s.on('state', (st) => states.push(st));
  const r = await s.start();
  assert.equal(r.ok, false);
  assert.equal(s.state, 'refused');
  assert.equal(s.pid, null, 'nothing was started');
  assert.match(
    (h.logs.get('fifo-model') ?? []).join('\n'),
    /No estimate: \S+model\.gguf is a named pipe \(FIFO\), not a regular file: a model must be a file to be read\./,
  );
  assert.ok(!states.includes('starting'), states.join(' → '));
});

test('preflight --model naming a FIFO → exit 1 at once, saying it is a named pipe, not a regular file', { timeout: 30_000 }, async () => {
  const lib = await buildFakeNvml();
  const fake = await FakeNvmlState.create({ devices: [{ name: 'RTX 4090', total: 24 * GiB, used: 2 * GiB, persistence: 1, processes: [] }] });
  const state = await mkdtemp(join(dir, 'state-'));
  const r = await runCli(
    ['preflight', '--model', fifo, '--nvml-library', lib],
    { FAKE_NVML_STATE: fake.path, VRAM_GUARD_STATE_DIR: state },
    { timeoutMs: 20_000 },
  );
  assert.equal(r.code, 1, `the CLI ${r.code === null ? 'hung and was killed' : `exited ${r.code}`}`);
  assert.match(`${r.stdout}\n${r.stderr}`, /model\.gguf is a named pipe \(FIFO\), not a regular file/);
});

test('the measured-footprints identity of a FIFO → none, at once (nothing opened for reading waits)', { timeout: 10_000 }, async () => {
  assert.equal(await modelIdentity(fifo), null);
});
