/**
 * Fault matrix: the whole GPU — processes VRAM Guard did not start, recognised from /proc, and
 * `vram-guard run`. Real processes (the gpu-process stand-in under a server's name), the built CLI.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CudaErrorScanner } from '../../src/core/servers/cuda-error-scanner.ts';
import { readRunRecords } from '../../src/core/servers/run-records.ts';
import { type ProcReader, realProcReader, unitFromCgroup } from '../../src/core/servers/recognition/proc-facts.ts';
import { ProcessRecogniser } from '../../src/core/servers/recognition/recogniser.ts';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import { startAs, type StartedProcess } from '../helpers/gpu-process.ts';

const started: StartedProcess[] = [];
before(() => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
});
after(() => {
  for (const p of started) p.stop();
});

const refused = (path: string) => Object.assign(new Error(`EACCES: permission denied, readlink '${path}'`), { code: 'EACCES' });

test('a process exits while it is being recognised → a partial answer that says what could not be read, never an error', async () => {
  const server = await startAs('llama-server', ['-m', 'qwen.gguf']);
  started.push(server);
  const exited = new Promise((r) => server.child.once('exit', r));
  let killed = false;
  // The process is killed, and reaped, right after its stat is first read: every later read finds it gone.
  const reader: ProcReader = {
    ...realProcReader,
    openSmall: async (path) => {
      const held = await realProcReader.openSmall(path);
      await held.read();
      if (!killed) {
        killed = true;
        server.child.kill('SIGKILL');
        await exited;
      }
      return held;
    },
  };
  const found = await new ProcessRecogniser({ reader }).recognise([server.pid]);
  const r = found.get(server.pid)!;
  assert.equal(r.pid, server.pid);
  assert.ok(
    r.missing.some((m) => m.endsWith(': gone')),
    JSON.stringify(r.missing),
  );
  assert.deepEqual(r.ports, []);
  // Not cached: the next look reads afresh, and finds it gone too.
  const again = (await new ProcessRecogniser().recognise([server.pid])).get(server.pid)!;
  assert.equal(again.kind, 'unknown');
  assert.ok(again.missing.includes('stat: gone'), JSON.stringify(again.missing));
});

test("another user's process hides its exe and fds → named from its command line, the unreadable entries listed", async () => {
  const server = await startAs('ollama', ['serve']);
  started.push(server);
  // What the kernel answers for another user's process: EACCES on /proc/PID/exe and /proc/PID/fd; cmdline and cgroup stay readable.
  const reader: ProcReader = {
    ...realProcReader,
    readlink: (path) => (path.endsWith('/exe') ? Promise.reject(refused(path)) : realProcReader.readlink(path)),
    readdir: (path) => (path.endsWith('/fd') ? Promise.reject(refused(path)) : realProcReader.readdir(path)),
  };
  const r = (await new ProcessRecogniser({ reader }).recognise([server.pid])).get(server.pid)!;
  assert.equal(r.kind, 'ollama');
  assert.equal(r.role, 'serve');
  assert.equal(r.program, 'ollama');
  assert.deepEqual(r.ports, []);
  assert.deepEqual(r.missing, ['exe: permission denied', 'fd: permission denied']);
});

test('a systemd unit name with odd characters → kept as systemd escapes it (the name systemctl takes); a name systemd would not write is dropped', () => {
  const user = '0::/user.slice/user-1000.slice/user@1000.service/app.slice/';
  assert.deepEqual(unitFromCgroup(`${user}whisper\\x20server\\x2d2.service\n`), { name: 'whisper\\x20server\\x2d2.service', scope: 'user' });
  assert.deepEqual(unitFromCgroup(`${user}llama@qwen2.5:7b.service\n`), { name: 'llama@qwen2.5:7b.service', scope: 'user' });
  assert.deepEqual(unitFromCgroup(`${user}app-gnome-ollama-4242.scope\n`), { name: 'app-gnome-ollama-4242.scope', scope: 'user' });
  assert.equal(unitFromCgroup(`${user}ollama.service; rm -rf ~.service\n`), null);
  assert.equal(unitFromCgroup(`${user}${'x'.repeat(300)}.service\n`), null);
  assert.equal(unitFromCgroup('garbage without colons'), null);
});

test('a CUDA error inside a 1 MB line → found once, the line streamed in bounded memory', () => {
  const found: string[] = [];
  const scanner = new CudaErrorScanner((l) => found.push(l.excerpt));
  const line = Buffer.from(
    `${'#'.repeat(512 * 1024)}ggml_backend_cuda_buffer_type_alloc_buffer: allocating 3626.50 MiB on device 0: cudaMalloc failed: out of memory${'#'.repeat(512 * 1024)}\n`,
  );
  for (let i = 0; i < line.length; i += 4096) scanner.push(line.subarray(i, i + 4096));
  assert.equal(scanner.count, 1);
  assert.equal(found.length, 1);
  assert.ok(found[0]!.length <= 240);
  assert.match(found[0]!, /cudaMalloc failed: out of memory/);
});

test('a run record that is cut short, not one, or whose run is gone → skipped; the ledger reads the others', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-runs-'));
  const record = (runPid: number) => ({
    name: 'llama-server',
    gpu: 0,
    runPid,
    childPid: 4242,
    startedAt: 1,
    restarts: 2,
    lastExit: { code: 3, signal: null, at: 2 },
  });
  await writeFile(join(dir, '11.json'), JSON.stringify(record(11)).slice(0, 40));
  await writeFile(join(dir, '12.json'), JSON.stringify({ ...record(12), restarts: -1 }));
  await writeFile(join(dir, '13.json'), JSON.stringify(record(14)));
  await writeFile(join(dir, '15.json'), JSON.stringify(record(15)));
  await writeFile(join(dir, `${process.pid}.json`), JSON.stringify(record(process.pid)));
  await writeFile(join(dir, 'notes.txt'), 'hello');
  const alive = (pid: number) => pid === process.pid || pid === 12 || pid === 14;
  assert.deepEqual(await readRunRecords(dir, alive), [record(process.pid)]);
});

test('vram-guard run without "--" → exit 64, saying to put the command after --', async () => {
  const r = await runCli(['run', '--need', '6GiB', 'llama-server', '-m', 'qwen.gguf']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /^vram-guard run: put the command after "--": vram-guard run \[options\] -- CMD ARGS…/);
});

test('vram-guard run with a command that does not exist → exit 127 with the reason; nothing is started', async () => {
  const r = await runCli(['run', '--', 'no-such-llama-server', '--port', '0'], { PATH: '/nonexistent-bin' });
  assert.equal(r.code, 127);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^vram-guard run: "no-such-llama-server" was not found on PATH \(\/nonexistent-bin\); nothing was started\.\n$/);
});
