/**
 * The field notes' setup (000: Whisper and Ollama on an 8 GB RTX 3070; 001: a speech daemon beside
 * it): Ollama runs as a system service, not from a task. The default chain's "unload Ollama" step
 * reaches it through its API; the fake NVML (through the real NVML source) shows the memory freed,
 * and the event records it before and after.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { FallbackChain } from '../../../src/core/fallback/chain.ts';
import { readFallbackSettings } from '../../../src/core/fallback/config.ts';
import { eventText } from '../../../src/core/fallback/events.ts';
import { postJson } from '../../../src/core/servers/http.ts';
import { MiB } from '../../../src/core/units.ts';
import { outsideExecutor, recognised } from '../../helpers/outside-servers.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { emulatorCommand, pollUntil } from '../../helpers/servers.ts';

let h: ServerHarness;
let ollama: ChildProcess | null = null;
before(async () => {
  h = await ServerHarness.create({ devices: [baseGpu()] });
});
after(async () => {
  ollama?.kill('SIGKILL');
  await h.dispose();
});

test('Ollama as a system service: the default chain\'s "unload Ollama" step unloads it through its API, memory before and after recorded', async () => {
  const [node, script] = emulatorCommand('ollama') as [string, string];
  ollama = spawn(node, [script, '--port', '0', '--model', 'llama3.2:3b=2000'], {
    env: { ...process.env, OLLAMA_HOST: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let seen = '';
  ollama.stderr?.on('data', (d: Buffer) => {
    seen += d.toString();
  });
  const port = Number((await pollUntil(() => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(seen), 'the Ollama emulator to listen'))[1]);
  const url = `http://127.0.0.1:${port}`;
  await pollUntil(async () => (await postJson(`${url}/api/generate`, { model: 'llama3.2:3b', prompt: 'hi', stream: false })).status === 200, 'a model load');
  const idle = 1464 * MiB;
  // 2000 MiB of weights and 112 MiB of KV per 1k of the default 4096 context.
  const loaded = idle + (2000 + 448) * MiB;
  assert.equal(await h.used(), loaded);

  const service = recognised({ pid: ollama.pid!, kind: 'ollama', role: 'serve', ports: [port], unit: { name: 'ollama.service', scope: 'system' }, uid: 0 });
  const steps = readFallbackSettings(() => undefined).steps;
  const unload = steps.findIndex((s) => s.action === 'unloadModel' && s.target === 'ollama');
  assert.ok(unload >= 0, 'the default chain unloads Ollama');
  const chain = new FallbackChain({
    steps: () => steps,
    mode: () => 'confirm',
    executor: outsideExecutor([service]),
    readUsed: () => h.used(),
    confirm: async () => true,
    settleIntervalMs: 20,
    settleTimeoutMs: 2000,
  });
  const event = await chain.runStep(unload, { gpu: 0, used: loaded, total: 8192 * MiB, level: 'critical', thresholds: null });
  assert.equal(event?.result, 'done', event?.message);
  assert.equal(event?.usedBefore, loaded);
  assert.equal(event?.usedAfter, idle);
  assert.match(
    eventText(event!),
    new RegExp(
      `unload llama3\\.2:3b from Ollama at ${url} \\(ollama\\.service, a system unit\\), started outside VRAM Guard \\(keep_alive 0\\): unloaded llama3\\.2:3b · 3912 MiB → 1464 MiB of 8192 MiB`,
    ),
  );
});
