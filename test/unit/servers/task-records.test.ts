/**
 * A task's life shared with `vram-guard ledger`: a real model-server task (the llama-server
 * emulator against the fake NVML, with "restart": "on-failure") killed once and restarted; the
 * window's task records follow it in the runtime folder, and the built CLI — another process —
 * shows its uptime, its restart and how it last ended, in text and in --json. Closing the window
 * removes its records.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { TaskRecordBook, TASKS_FILE } from '../../../src/core/servers/task-records.ts';
import { syncTaskRecords } from '../../../src/core/servers/task-records-sync.ts';
import { TaskRestarts } from '../../../src/core/servers/task-restarts.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import { cliPath, privateRuntimeDir, runCli } from '../../helpers/cli-run.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { buildFakeNvml, repoRoot } from '../../helpers/fake-nvml.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { pollUntil } from '../../helpers/servers.ts';

let h: ServerHarness;
let lib: string;
before(async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
  h = await ServerHarness.create({ devices: [baseGpu({ total: 8 * GiB, used: 300 * MiB, processes: [] })] });
});
after(async () => {
  await h?.dispose();
});

it("vram-guard ledger shows a task's uptime, restarts and last exit, read from the window's task records", async () => {
  const book = new TaskRecordBook(join(privateRuntimeDir, 'vram-guard', TASKS_FILE));
  const logged: string[] = [];
  const sync = syncTaskRecords(h.registry, book, (m) => logged.push(m));
  const server = await h.task('speech', 'llama-server', ['-m', 'model.gguf', '-c', '2048', '--weights-mib', '600', '--kv-mib-per-1k', '64'], {
    needs: '1GiB',
    restart: 'on-failure',
  });
  const clock = new FakeClock(Date.now());
  const restarts = new TaskRestarts(server, { clock, say: () => {}, onGiveUp: () => {} });
  try {
    assert.ok((await server.start()).ok);
    const first = server.pid!;
    process.kill(-first, 'SIGKILL'); // as the OOM killer would
    await pollUntil(() => server.state === 'exited', 'the exit seen', 10_000);
    await clock.advance(1000);
    await pollUntil(() => server.state === 'ready', 'the restart', 15_000);
    const pid = server.pid!;
    assert.notEqual(pid, first);
    const record = await pollUntil(async () => {
      const r = (await book.read()).records.find((t) => t.name === 'speech');
      return r?.pid === pid && r.state === 'ready' ? r : null;
    }, 'the record of the restarted server');
    assert.equal(record.hostPid, process.pid);
    assert.equal(record.restarts, 1);
    assert.equal(record.readySince, server.readyAt);
    assert.equal(record.lastExit?.signal, 'SIGKILL');
    assert.ok((record.lastExit?.lastLines.length ?? 0) > 0, 'the last lines before it was killed');

    const env = { FAKE_NVML_STATE: h.fake.path };
    const json = await runCli(['ledger', '--json', '--nvml-library', lib], env);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stderr, '');
    const entry = JSON.parse(json.stdout).gpus[0].other.find((o: { pid: number }) => o.pid === pid);
    assert.ok(entry, json.stdout);
    assert.equal(entry.startedBy, 'task');
    assert.deepEqual(
      { name: entry.task.name, state: entry.task.state, readySince: entry.task.readySince, restarts: entry.task.restarts, signal: entry.task.lastExit.signal },
      { name: 'speech', state: 'ready', readySince: server.readyAt, restarts: 1, signal: 'SIGKILL' },
    );
    const text = await runCli(['ledger', '--nvml-library', lib], env);
    assert.match(
      text.stdout,
      new RegExp(`\\(PID ${pid}\\) — .*started by a task · task "speech": ready for [^,]+, restarted 1 time, last exit by SIGKILL at \\d{4}-`),
    );
  } finally {
    restarts.dispose();
    await h.registry.stopAll('test finished');
    await sync.dispose();
  }
  assert.deepEqual((await book.read()).records, [], "a closed window's records are removed");
  assert.deepEqual(logged, []);
});

it('eight windows writing their records at the same moment: every record is kept (the file lock), the file whole', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-task-records-'));
  const path = join(dir, TASKS_FILE);
  const module = join(repoRoot, 'src', 'core', 'servers', 'task-records.ts');
  // Each window: a process that writes its two records, says so, and lives until its stdin closes.
  const script = `
    import { TaskRecordBook } from ${JSON.stringify(module)};
    const record = (name) => ({ name, kind: 'llama-server', gpu: 0, hostPid: process.pid, pid: null, state: 'starting', readySince: null, restarts: 0, lastExit: null });
    await new TaskRecordBook(${JSON.stringify(path)}).replaceHost(process.pid, [record('a'), record('b')]);
    process.stdout.write('written\\n');
    process.stdin.resume();
  `;
  const windows = Array.from({ length: 8 }, () => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
  try {
    await Promise.all(
      windows.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.stdout?.on('data', (d: Buffer) => d.toString().includes('written') && resolve());
            w.once('exit', (code) => reject(new Error(`a window ended first (${code})`)));
          }),
      ),
    );
    const { records, problem } = await new TaskRecordBook(path).read();
    assert.equal(problem, null);
    assert.deepEqual(records.map((r) => `${r.hostPid}:${r.name}`).sort(), windows.flatMap((w) => [`${w.pid}:a`, `${w.pid}:b`]).sort());
  } finally {
    for (const w of windows) w.stdin?.end();
    await Promise.all(windows.map((w) => (w.exitCode === null ? new Promise((r) => w.once('exit', r)) : null)));
  }
  assert.deepEqual((await new TaskRecordBook(path).read()).records, [], 'the records of windows that are gone are not shown');
});
