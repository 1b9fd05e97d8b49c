/**
 * Fault matrix: the task records file (`tasks.json` in the runtime folder) that VS Code windows
 * write and `vram-guard ledger` reads. Real parts: the built CLI against the fake NVML, a real
 * process standing for the task's server, the file lock of a real write.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TaskRecord, TaskRecordBook, TASKS_FILE } from '../../src/core/servers/task-records.ts';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import { buildFakeNvml, desktopRtx3070, FakeNvmlState, GiB } from '../helpers/fake-nvml.ts';

let lib: string;
let server: ChildProcess;
let fake: FakeNvmlState;
before(async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
  // The task's server: a real process NVML lists with 1 GiB.
  server = spawn('sleep', ['600'], { stdio: 'ignore' });
  const state = desktopRtx3070();
  const d = state.devices[0]!;
  fake = await FakeNvmlState.create({
    ...state,
    devices: [{ ...d, used: d.used! + GiB, processes: [...d.processes!, { pid: server.pid!, used: GiB, name: 'llama-server' }] }],
  });
});
after(() => {
  server?.kill('SIGKILL');
});

function record(over: Partial<TaskRecord> = {}): TaskRecord {
  return {
    name: 'speech',
    kind: 'llama-server',
    gpu: 0,
    hostPid: process.pid,
    pid: server.pid ?? null,
    state: 'ready',
    readySince: Date.now() - 3_600_000,
    restarts: 2,
    lastExit: { code: 3, signal: null, at: Date.now() - 3_700_000, lastLines: ['CUDA error: out of memory'] },
    ...over,
  };
}

/** A private runtime folder holding `content` as its tasks.json. */
async function runtimeWith(content: string): Promise<{ runtime: string; file: string }> {
  const runtime = await mkdtemp(join(tmpdir(), 'vram-guard-tasks-'));
  await mkdir(join(runtime, 'vram-guard'), { mode: 0o700 });
  const file = join(runtime, 'vram-guard', TASKS_FILE);
  await writeFile(file, content, { mode: 0o600 });
  return { runtime, file };
}

const ledger = (runtime: string, json = false) =>
  runCli(['ledger', ...(json ? ['--json'] : []), '--nvml-library', lib], { FAKE_NVML_STATE: fake.path, XDG_RUNTIME_DIR: runtime });

const serverLine = (stdout: string) => stdout.split('\n').find((l) => l.includes(`(PID ${server.pid})`)) ?? '';

test('a task records file cut short by a crash → ledger still prints, and says the file is not JSON and will be replaced; the next write replaces it whole', async () => {
  const rec = record();
  const whole = JSON.stringify({ version: 1, tasks: [rec] });
  const { runtime, file } = await runtimeWith(whole.slice(0, whole.length / 2));
  const r = await ledger(runtime);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /tasks\.json is not JSON \(.*\): no task records read; the next change replaces it\n$/);
  assert.doesNotMatch(serverLine(r.stdout), /task "speech"/);
  await new TaskRecordBook(file).replaceHost(process.pid, [rec]);
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { version: 1, tasks: [rec] });
  const again = await ledger(runtime);
  assert.equal(again.stderr, '');
  assert.match(
    serverLine(again.stdout),
    /task "speech": ready for 1 h( 0 m)?, restarted 2 times, last exit code 3 at \d{4}-.* \("CUDA error: out of memory"\)/,
  );
});

test('a task records file over 256 KiB → not read or parsed; ledger prints and names the limit', async () => {
  const { runtime } = await runtimeWith(JSON.stringify({ version: 1, tasks: [record({ name: 'x'.repeat(300 * 1024) })] }));
  const r = await ledger(runtime);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /tasks\.json is larger than 256 KiB, more than task records take: it is not read\n$/);
  assert.match(r.stdout, /^GPU 0 /m);
});

test('task records with garbage among them (a 10,000-character name, negative restarts, 1,000 last lines, a PID as text) → the bad ones left out and counted, the good one shown', async () => {
  const bad = [
    record({ name: 'n'.repeat(10_000) }),
    record({ restarts: -1 }),
    record({ lastExit: { code: 1, signal: null, at: 1, lastLines: Array.from({ length: 1000 }, () => 'line') } }),
    { ...record(), pid: String(server.pid) },
    'not a record',
  ];
  const { runtime } = await runtimeWith(JSON.stringify({ version: 1, tasks: [...bad, record()] }));
  const r = await ledger(runtime, true);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /tasks\.json: 5 records are not task records and were left out\n$/);
  const entry = JSON.parse(r.stdout).gpus[0].other.find((o: { pid: number }) => o.pid === server.pid);
  assert.equal(entry.task.name, 'speech');
  assert.equal(entry.task.restarts, 2);
});

test('a task record of a VS Code window that is gone → not shown, and dropped at the next write', async () => {
  const gone = spawn('true');
  await new Promise((r) => gone.once('exit', r));
  const { runtime, file } = await runtimeWith(JSON.stringify({ version: 1, tasks: [record({ hostPid: gone.pid! })] }));
  const r = await ledger(runtime);
  assert.equal(r.stderr, '');
  assert.doesNotMatch(serverLine(r.stdout), /task "speech"/);
  await new TaskRecordBook(file).replaceHost(process.pid, []);
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { version: 1, tasks: [] });
});
