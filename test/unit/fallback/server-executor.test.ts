/**
 * The fallback chain end to end through the core: the watcher samples the fake NVML through the real
 * NVML source, emulated servers run as real child processes and allocate VRAM in it, and the chain's
 * steps act on them over HTTP and by restarting their tasks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FallbackChain } from '../../../src/core/fallback/chain.ts';
import { chainSteps, readFallbackSettings } from '../../../src/core/fallback/config.ts';
import { parseSteps } from '../../../src/core/servers/fallback-steps.ts';
import { ServerExecutor } from '../../../src/core/fallback/server-executor.ts';
import type { GpuSource } from '../../../src/core/gpu/types.ts';
import { llamaServerAdapter } from '../../../src/core/servers/kinds/llama-server.ts';
import { ollamaAdapter } from '../../../src/core/servers/kinds/ollama.ts';
import { postJson } from '../../../src/core/servers/http.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import { parseThresholds } from '../../../src/core/watch/thresholds.ts';
import { Watcher } from '../../../src/core/watch/watcher.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { pollUntil } from '../../helpers/servers.ts';

let h: ServerHarness;
before(async () => {
  h = await ServerHarness.create();
});
after(async () => {
  await h?.dispose();
});

/** llama-server at -c 8192 (3124 MiB), Ollama with one model (2648 MiB at num_ctx 4096), a watcher and the default chain in auto mode. */
async function scene(desktopMiB: number) {
  await h.fake.write({
    devices: [baseGpu({ total: 8 * GiB, used: desktopMiB * MiB, processes: [{ pid: 1187, kind: 'graphics', used: desktopMiB * MiB, name: 'Xorg' }] })],
  });
  const llama = await h.task(`llama-${desktopMiB}`, 'llama-server', ['-m', 'model.gguf', '-c', '8192', '--weights-mib', '2000', '--kv-mib-per-1k', '128'], {
    needs: '3GiB',
    fallback: { contextSizes: [8192, 4096, 2048] },
  });
  const ollama = await h.task(`ollama-${desktopMiB}`, 'ollama', ['--model', 'llama3.2:3b=2200:112'], { needs: '1GiB' });
  assert.ok((await llama.start()).ok);
  assert.ok((await ollama.start()).ok);

  const settings = readFallbackSettings((k) => (k === 'fallbackMode' ? 'auto' : undefined));
  const chain = new FallbackChain({
    steps: () =>
      chainSteps(
        settings.steps,
        h.registry.all().map((s) => ({ name: s.name, steps: s.task.fallback.steps })),
      ),
    mode: () => settings.mode,
    executor: new ServerExecutor({ registry: h.registry, isTrusted: () => true }),
    readUsed: async () => h.used(),
    confirm: async () => false,
    cooldownMs: 60_000,
    settleIntervalMs: 50,
    settleTimeoutMs: 3000,
  });
  const shared: GpuSource = { kind: 'nvml', description: 'fake NVML', sample: (t) => h.source.sample(t), dispose: async () => {} };
  const watcher = new Watcher({
    openSource: async () => ({ ok: true, source: shared }),
    thresholds: parseThresholds({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, '2%').spec,
    intervalMs: 40,
    adaptive: { enabled: false, fastIntervalMs: 40, calmIntervalMs: 40, margin: { kind: 'percent', percent: 5 } },
  });
  watcher.on('sample', (w) => chain.onSample(w));
  const load = () => postJson(`${ollama.baseUrl}/api/generate`, { model: 'llama3.2:3b', prompt: 'hi', stream: false });
  const done = async () => {
    watcher.clear();
    await watcher.stop();
    await chain.idle();
    await llama.stop();
    await ollama.stop();
  };
  return { llama, ollama, chain, watcher, load, done };
}

/** Resolves once the watcher has handed `count` more samples to the chain: "nothing happens" is checked over samples, not over a wait of some length. */
function samples(watcher: Watcher, count: number): Promise<void> {
  return new Promise((resolve) => {
    let left = count;
    const off = watcher.on('sample', () => {
      if (--left > 0) return;
      off();
      resolve();
    });
  });
}

describe('fallback chain with emulated servers', () => {
  it('CRITICAL runs the first step; memory settles below the trigger, so the second does not run', async () => {
    const s = await scene(1464);
    s.watcher.start();
    assert.equal((await s.load()).status, 200); // 1464 + 3124 + 2648 = 7236 MiB: CRITICAL
    await pollUntil(() => s.chain.events.length >= 1 && !s.chain.busy, 'the first step', 10_000);
    const [e] = s.chain.events;
    assert.equal(e?.result, 'done', e?.message);
    assert.equal(e?.action, 'reduceContext');
    assert.equal(e?.target, 'llama-1464');
    assert.equal(e?.level, 'critical');
    assert.equal(e?.usedAfter, (1464 + 2612 + 2648) * MiB);
    assert.equal((await llamaServerAdapter.report(s.llama.baseUrl!)).contextLength, 4096);
    await samples(s.watcher, 5); // a few more samples: nothing else happens
    assert.equal(s.chain.busy, false, 'a step started');
    assert.equal(s.chain.events.length, 1);
    assert.equal((await ollamaAdapter.report(s.ollama.baseUrl!)).models.length, 1, 'Ollama keeps its model');
    await s.done();
  });

  it('still above after the first step: the second unloads Ollama; the cooldown then prevents a loop', async () => {
    const s = await scene(2000);
    s.watcher.start();
    await s.load(); // 2000 + 3124 + 2648 = 7772 MiB: CRITICAL, just under EMERGENCY
    await pollUntil(() => s.chain.events.length >= 2 && !s.chain.busy, 'two steps', 15_000);
    assert.deepEqual(
      s.chain.events.map((e) => [e.action, e.result, e.usedBefore / MiB, e.usedAfter! / MiB]),
      [
        ['reduceContext', 'done', 7772, 7260],
        ['unloadModel', 'done', 7260, 4612],
      ],
    );
    assert.match(s.chain.events[1]!.message, /unload llama3\.2:3b from "ollama-2000" \(keep_alive 0\): unloaded llama3\.2:3b/);
    assert.deepEqual((await ollamaAdapter.report(s.ollama.baseUrl!)).models, []);

    // The model comes back (a client asks for it): CRITICAL again, but both steps are cooling down.
    const pid = s.llama.pid;
    await s.load();
    assert.equal(await h.used(), 7260 * MiB);
    await samples(s.watcher, 10); // CRITICAL samples, each handed to the chain
    assert.equal(s.chain.busy, false, 'a step started');
    assert.equal(s.chain.events.length, 2, s.chain.events.map((e) => e.message).join('\n'));
    assert.equal(s.llama.pid, pid, 'llama-server was not restarted again');
    await s.done();
  });

  it('moves Whisper to the CPU on request: restarted with -ng, its VRAM freed', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const w = await h.task('whisper', 'whisper-cpp', ['-m', 'ggml-base.en.bin', '--vram-mib', '400'], { needs: '500MiB' });
    assert.ok((await w.start()).ok);
    const before = await h.used();
    const executor = new ServerExecutor({ registry: h.registry, isTrusted: () => false });
    const steps = readFallbackSettings(() => undefined).steps;
    const chain = new FallbackChain({
      steps: () => steps,
      mode: () => 'confirm',
      executor,
      readUsed: () => h.used(),
      confirm: async () => false,
      settleIntervalMs: 30,
      settleTimeoutMs: 2000,
    });
    const dry = await chain.dryRun({ sample: await h.source.sample(0), levels: ['ok'], thresholds: [null] });
    assert.match(dry[0]!.message, /would do nothing: .*no "fallback.contextSizes"|would do nothing/);
    assert.match(dry[2]!.message, /restart "whisper" on the CPU \(-ng\)/);
    const e = await chain.runStep(2, { gpu: 0, used: before, total: 8 * GiB, level: 'ok', thresholds: null });
    assert.equal(e?.result, 'done', e?.message);
    assert.equal(e?.usedAfter, before - 400 * MiB);
    assert.ok(w.commandLine().args.includes('-ng'));
    const cmd = await new FallbackChain({
      steps: () => [
        { action: 'command', trigger: { kind: 'level', level: 'critical' }, target: null, model: null, command: ['true'], mode: null, label: 'command true' },
      ],
      mode: () => 'auto',
      executor,
      readUsed: () => h.used(),
      confirm: async () => true,
      settleIntervalMs: 10,
      settleTimeoutMs: 100,
    }).runStep(0, { gpu: 0, used: before, total: 8 * GiB, level: 'ok', thresholds: null });
    assert.equal(cmd?.result, 'skipped');
    assert.match(cmd!.message, /trusted workspace/);
    await w.stop();
  });

  it('restartServer restarts a task: a new process, the same arguments', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const w = await h.task('whisper', 'whisper-cpp', ['-m', 'ggml-base.en.bin', '--vram-mib', '300'], { needs: '400MiB' });
    assert.ok((await w.start()).ok);
    const pid = w.pid;
    const [restart] = parseSteps([{ action: 'restartServer', target: 'whisper' }], 'test').steps;
    const plan = await new ServerExecutor({ registry: h.registry, isTrusted: () => true }).plan(restart!, 0);
    assert.ok(plan.ok, plan.ok ? '' : plan.reason);
    assert.equal(plan.description, 'restart "whisper"');
    assert.equal(await plan.run(), `restarted (PID ${w.pid})`);
    assert.notEqual(w.pid, pid);
    assert.ok(!w.commandLine().args.includes('-ng'));
    await w.stop();
  });
});
