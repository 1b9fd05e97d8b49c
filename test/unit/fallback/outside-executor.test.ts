/**
 * Fallback steps on servers VRAM Guard did not start, against the emulators of their APIs (real
 * processes listening on a port the OS picked): Ollama's unload at the recognised port or at the
 * user's Ollama URL, vLLM's sleep where the server enables it, and `systemctl --user stop` through a
 * stand-in that records its arguments.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, test } from 'node:test';
import { gpuProcesses, ollamaUrlSetting } from '../../../src/core/fallback/outside-processes.ts';
import type { GpuSample } from '../../../src/core/gpu/types.ts';
import { ProcessRecogniser } from '../../../src/core/servers/recognition/recogniser.ts';
import { parseSteps } from '../../../src/core/servers/fallback-steps.ts';
import { getJson, postJson } from '../../../src/core/servers/http.ts';
import { outsideExecutor, recognised, standInSystemctl } from '../../helpers/outside-servers.ts';
import { startAs } from '../../helpers/gpu-process.ts';
import { emulatorCommand, type EmulatorKind, pollUntil } from '../../helpers/servers.ts';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts an emulator on port 0 and resolves with the port it says it listens on. */
async function startEmulator(kind: EmulatorKind, args: string[], env: Record<string, string> = {}): Promise<number> {
  const [node, script] = emulatorCommand(kind) as [string, string];
  const child = spawn(node, [script, '--port', '0', ...args], { env: { ...process.env, ...env, OLLAMA_HOST: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let seen = '';
    child.once('exit', (code) => reject(new Error(`${kind} emulator exited with ${code}: ${seen}`)));
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (m) resolve(Number(m[1]));
    });
  });
}

const step = (raw: Record<string, unknown>) => parseSteps([raw], 'test').steps[0]!;

async function ollamaWithModel(): Promise<string> {
  const port = await startEmulator('ollama', ['--model', 'llama3.2:3b=2000', '--model', 'qwen3:8b=5000']);
  const url = `http://127.0.0.1:${port}`;
  // Loads answer 503 until the emulator has "loaded": retry the first load on that answer only.
  for (;;) {
    const r = await postJson(`${url}/api/generate`, { model: 'llama3.2:3b', prompt: 'hi', stream: false });
    if (r.status === 200) break;
    assert.equal(r.status, 503, r.text);
  }
  await postJson(`${url}/api/generate`, { model: 'qwen3:8b', prompt: 'hi', stream: false });
  return url;
}

const loadedAt = async (url: string) => ((await getJson(`${url}/api/ps`)).json as { models: Array<{ name: string }> }).models.map((m) => m.name).sort();

test('Ollama run as a system service: the default "unload Ollama" step unloads every model at its listening port', async () => {
  const url = await ollamaWithModel();
  assert.deepEqual(await loadedAt(url), ['llama3.2:3b', 'qwen3:8b']);
  const port = Number(new URL(url).port);
  const service = recognised({ pid: 1234, kind: 'ollama', role: 'serve', ports: [port], unit: { name: 'ollama.service', scope: 'system' }, uid: 0 });
  const runner = recognised({ pid: 1240, kind: 'ollama', role: 'runner', ports: [port + 1], unit: { name: 'ollama.service', scope: 'system' }, uid: 0 });
  const plan = await outsideExecutor([runner, service]).plan(step({ action: 'unloadModel', target: 'ollama', trigger: 'critical' }), 0);
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  assert.match(plan.description, new RegExp(`unload llama3\\.2:3b, qwen3:8b from Ollama at ${url} \\(ollama\\.service, a system unit\\)`));
  assert.equal(await plan.run(), 'unloaded llama3.2:3b, qwen3:8b');
  assert.deepEqual(await loadedAt(url), []);
});

test("a step naming one model unloads only it; Ollama's runners alone on the GPU are reached through the user's Ollama URL", async () => {
  const url = await ollamaWithModel();
  const runner = recognised({ pid: 2240, kind: 'ollama', role: 'runner', ports: [] });
  const plan = await outsideExecutor([runner], { ollamaUrls: () => [`${url}/`] }).plan(step({ action: 'unloadModel', target: 'ollama', model: 'qwen3:8b' }), 0);
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  await plan.run();
  assert.deepEqual(await loadedAt(url), ['llama3.2:3b']);
});

test('an untrusted workspace: servers VRAM Guard did not start are not acted on', async () => {
  const runner = recognised({ pid: 2240, kind: 'ollama', role: 'serve', ports: [1] });
  const plan = await outsideExecutor([runner], { isTrusted: () => false }).plan(step({ action: 'unloadModel', target: 'ollama' }), 0);
  assert.equal(plan.ok, false);
  assert.match(plan.ok ? '' : plan.reason, /only in a trusted workspace/);
});

test('vLLM started with sleep mode: unloadModel puts it to sleep (level 1); without it, the step says the flags it needs', async () => {
  const asleepPort = await startEmulator('vllm', ['serve', 'Qwen/Qwen3-0.6B', '--enable-sleep-mode'], { VLLM_SERVER_DEV_MODE: '1' });
  const plainPort = await startEmulator('vllm', ['serve', 'Qwen/Qwen3-0.6B']);
  const withSleep = recognised({ pid: 3000, kind: 'vllm', ports: [asleepPort] });
  const plan = await outsideExecutor([withSleep]).plan(step({ action: 'unloadModel', target: 'vllm' }), 0);
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  assert.equal(await plan.run(), 'asleep (level 1)');
  assert.deepEqual((await getJson(`http://127.0.0.1:${asleepPort}/is_sleeping`)).json, { is_sleeping: true });
  const again = await outsideExecutor([withSleep]).plan(step({ action: 'unloadModel', target: 'vllm' }), 0);
  assert.match(again.ok ? '' : again.reason, /is already asleep/);

  const without = recognised({ pid: 3001, kind: 'vllm', ports: [plainPort] });
  const refused = await outsideExecutor([without]).plan(step({ action: 'unloadModel', target: 'vllm' }), 0);
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.reason, /has no sleep mode: it needs VLLM_SERVER_DEV_MODE=1 and --enable-sleep-mode/);
});

test("stopServer on the user's own user unit runs systemctl --user stop -- UNIT (an argument array)", async () => {
  const systemctl = await standInSystemctl();
  const mine = recognised({ pid: 4000, kind: 'whisper-cpp', unit: { name: 'whisper@base.service', scope: 'user' } });
  const plan = await outsideExecutor([mine], { systemctl: { program: systemctl.program } }).plan(step({ action: 'stopServer', target: 'whisper' }), 0);
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  assert.equal(plan.target, 'whisper@base.service');
  assert.equal(await plan.run(), 'whisper@base.service stopped');
  assert.deepEqual(await systemctl.calls(), [['--user', 'stop', '--', 'whisper@base.service']]);
});

test("restartServer on the user's own user unit runs systemctl --user restart -- UNIT", async () => {
  const systemctl = await standInSystemctl();
  const mine = recognised({ pid: 4001, kind: 'llama-server', unit: { name: 'llama.service', scope: 'user' } });
  const plan = await outsideExecutor([mine], { systemctl: { program: systemctl.program } }).plan(step({ action: 'restartServer', target: 'llama-server' }), 0);
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  assert.equal(await plan.run(), 'llama.service restarted');
  assert.deepEqual(await systemctl.calls(), [['--user', 'restart', '--', 'llama.service']]);
});

test('a process in no unit, not started by VRAM Guard: stopServer leaves it alone and says how to stop it', async () => {
  const loose = recognised({ pid: 4100, kind: 'llama-server', unit: null });
  const plan = await outsideExecutor([loose]).plan(step({ action: 'stopServer', target: 'llama-server' }), 0);
  assert.equal(plan.ok, false);
  assert.match(plan.ok ? '' : plan.reason, /PID 4100 runs in no systemd unit and VRAM Guard did not start it: it is not touched .*kill 4100/);
});

test("the GPU's processes are recognised from /proc, less the roots of task servers: a real `ollama serve` with its port", async () => {
  const serve = await startAs('ollama', ['serve']);
  const task = await startAs('llama-server', ['-m', 'task.gguf']);
  const recogniser = new ProcessRecogniser();
  try {
    const sample = { devices: [{ index: 0, processes: [{ pid: serve.pid }, { pid: task.pid }] }] } as unknown as GpuSample;
    const found = await gpuProcesses(
      () => sample,
      recogniser,
      () => [task.pid],
    )(0);
    assert.deepEqual(
      found.map((r) => [r.pid, r.kind, r.role, r.ports]),
      [[serve.pid, 'ollama', 'serve', [serve.port]]],
    );
    assert.deepEqual(await gpuProcesses(() => sample, recogniser)(1), []);
  } finally {
    recogniser.dispose();
    serve.stop();
    task.stop();
  }
});

test('vramGuard.servers.ollamaUrl: an http(s) URL is used without its trailing "/"; anything else is named and ignored', () => {
  assert.deepEqual(ollamaUrlSetting('http://127.0.0.1:11434/'), { url: 'http://127.0.0.1:11434', problem: null });
  assert.deepEqual(ollamaUrlSetting(''), { url: null, problem: null });
  for (const bad of ['file:///etc/passwd', 'localhost:11434', 'http://user:pw@host:1', 42]) {
    const r = ollamaUrlSetting(bad);
    assert.equal(r.url, null, String(bad));
    assert.match(r.problem ?? '', /must be an http\(s\) URL .* It is ignored\./);
  }
});

test('llama-server in router mode: unloadModel unloads the loaded models through /models/unload; a single-model server cannot', async () => {
  const port = await startEmulator('llama-server', ['--models-dir', 'models', '--router-models', 'qwen3-8b,gemma-3-4b']);
  const url = `http://127.0.0.1:${port}`;
  assert.equal((await postJson(`${url}/models/load`, { model: 'qwen3-8b' })).status, 200);
  const routerProcess = recognised({ pid: 5000, kind: 'llama-server', ports: [port] });
  const plan = await outsideExecutor([routerProcess]).plan(step({ action: 'unloadModel', target: 'llama-server' }), 0);
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  assert.match(plan.description, /unload qwen3-8b from llama-server \(router\)/);
  assert.equal(await plan.run(), 'unloaded qwen3-8b');
  const listed = (await getJson(`${url}/models`)).json as { data: Array<{ id: string; status: { value: string } }> };
  assert.deepEqual(
    listed.data.map((m) => [m.id, m.status.value]),
    [
      ['qwen3-8b', 'unloaded'],
      ['gemma-3-4b', 'unloaded'],
    ],
  );
  const nothing = await outsideExecutor([routerProcess]).plan(step({ action: 'unloadModel', target: 'llama-server' }), 0);
  assert.match(nothing.ok ? '' : nothing.reason, /has no model loaded/);

  const single = recognised({ pid: 5001, kind: 'llama-server', model: 'qwen.gguf', ports: [port] });
  const refused = await outsideExecutor([single]).plan(step({ action: 'unloadModel', target: 'llama-server' }), 0);
  assert.match(refused.ok ? '' : refused.reason, /serves one model \(qwen\.gguf\) and cannot unload it while running/);
});

test("only Ollama's runner holds the GPU: its parent `ollama serve` (a real process tree) gives the API's port", async () => {
  const serve = await startAs('ollama', ['serve'], { FAKE_CHILD: 'runner' });
  const runnerPid = Number((await serve.printed(/child (\d+)/))[1]);
  const recogniser = new ProcessRecogniser();
  try {
    const sample = { devices: [{ index: 0, processes: [{ pid: runnerPid }] }] } as unknown as GpuSample;
    // Between fork and exec the child is still a copy of `ollama serve`: recognise it once it runs as the runner.
    await pollUntil(async () => (await readFile(`/proc/${runnerPid}/cmdline`, 'utf8')).split('\0').includes('runner'), 'the runner to exec');
    const found = await gpuProcesses(() => sample, recogniser)(0);
    assert.deepEqual(
      found.map((r) => [r.pid, r.kind, r.role, r.ports]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [serve.pid, 'ollama', 'serve', [serve.port]],
        [runnerPid, 'ollama', 'runner', []],
      ],
    );
  } finally {
    recogniser.dispose();
    process.kill(runnerPid, 'SIGKILL');
    serve.stop();
  }
});

test("an Ollama service whose port cannot be read (another user's) and no setting: Ollama's default address is asked", async () => {
  const hidden = recognised({
    pid: 6000,
    kind: 'ollama',
    role: 'serve',
    ports: [],
    uid: 0,
    unit: { name: 'ollama.service', scope: 'system' },
    missing: ['fd: permission denied'],
  });
  const plan = await outsideExecutor([hidden]).plan(step({ action: 'unloadModel', target: 'ollama' }), 0);
  // Whatever this machine runs at 11434, the step names that address.
  assert.match(plan.ok ? plan.target : plan.reason, /Ollama at http:\/\/127\.0\.0\.1:11434/);
  if (!plan.ok) assert.match(plan.reason, /set vramGuard\.servers\.ollamaUrl in your user settings|no model loaded/);
});
