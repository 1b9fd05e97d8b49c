/**
 * Fault matrix: fallback steps on servers VRAM Guard did not start. A real fallback chain, a port
 * nothing listens on, and a stand-in `systemctl` (a script that records its arguments) given to the
 * executor by path, so no test touches the machine's own units.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FallbackChain } from '../../src/core/fallback/chain.ts';
import type { FallbackEvent } from '../../src/core/fallback/events.ts';
import { parseSteps } from '../../src/core/servers/fallback-steps.ts';
import { systemctlUser } from '../../src/core/servers/systemd-user-unit.ts';
import type { WatchedSample } from '../../src/core/watch/watcher.ts';
import { freePort } from '../helpers/servers.ts';
import { outsideExecutor, recognised, standInSystemctl } from '../helpers/outside-servers.ts';

const GiB = 1024 ** 3;
const myUid = process.getuid?.() ?? 1000;

/** One GPU at 7.6 of 8 GiB, CRITICAL: every step's trigger is met. */
function criticalSample(): WatchedSample {
  const memory = { used: 7.6 * GiB, total: 8 * GiB, free: 0.4 * GiB };
  return { sample: { timestamp: 0, devices: [{ index: 0, memory, processes: [] }] }, levels: ['critical'], thresholds: [null] } as unknown as WatchedSample;
}

const steps = (raw: unknown[]) => parseSteps(raw, 'test').steps;

test('an Ollama URL that does not answer → a clear message, the step skipped, and the chain goes on', async () => {
  const systemctl = await standInSystemctl();
  const deadPort = await freePort();
  const ollama = recognised({ pid: 4242, kind: 'ollama', role: 'serve', ports: [deadPort] });
  const speech = recognised({ pid: 4343, kind: 'faster-whisper', unit: { name: 'speech.service', scope: 'user' }, uid: myUid });
  const events: FallbackEvent[] = [];
  const chain = new FallbackChain({
    steps: () =>
      steps([
        { action: 'unloadModel', target: 'ollama', trigger: 'critical' },
        { action: 'stopServer', target: 'whisper', trigger: 'critical' },
      ]),
    mode: () => 'auto',
    executor: outsideExecutor([ollama, speech], { systemctl: { program: systemctl.program } }),
    readUsed: async () => 7.6 * GiB,
    confirm: async () => false,
    settleTimeoutMs: 0,
  });
  chain.on('event', (e) => events.push(e));
  chain.onSample(criticalSample());
  await chain.idle();
  assert.equal(events.length, 2, JSON.stringify(events));
  const [unload, stop] = events as [FallbackEvent, FallbackEvent];
  assert.equal(unload.result, 'skipped');
  assert.match(unload.message, new RegExp(`Ollama at http://127\\.0\\.0\\.1:${deadPort} did not answer`));
  assert.match(unload.message, /nothing unloaded/);
  assert.equal(stop.result, 'done', stop.message);
  assert.deepEqual(await systemctl.calls(), [['--user', 'stop', '--', 'speech.service']]);
});

test('a process in a system unit → never touched; the step names the command to run (sudo systemctl …)', async () => {
  const systemctl = await standInSystemctl();
  const ollama = recognised({ pid: 812, kind: 'ollama', role: 'serve', unit: { name: 'ollama.service', scope: 'system' }, uid: 0 });
  const executor = outsideExecutor([ollama], { systemctl: { program: systemctl.program } });
  const [stop] = steps([{ action: 'stopServer', target: 'ollama' }]);
  const plan = await executor.plan(stop!, 0);
  assert.equal(plan.ok, false);
  assert.match(plan.ok ? '' : plan.reason, /ollama\.service is a system unit: VRAM Guard never touches it; run `sudo systemctl stop ollama\.service`/);
  assert.deepEqual(await systemctl.calls(), []);
});

test("another user's process → never touched; the step says its owner's command", async () => {
  const systemctl = await standInSystemctl();
  const theirs = recognised({ pid: 913, kind: 'llama-server', unit: { name: 'llm.service', scope: 'user' }, uid: myUid + 1 });
  const executor = outsideExecutor([theirs], { systemctl: { program: systemctl.program } });
  const [stop] = steps([{ action: 'stopServer', target: 'llama-server' }]);
  const plan = await executor.plan(stop!, 0);
  assert.equal(plan.ok, false);
  assert.match(
    plan.ok ? '' : plan.reason,
    new RegExp(
      `llm\\.service \\(PID 913\\) belongs to another user \\(uid ${myUid + 1}\\): it is not touched; its owner would run \`systemctl --user stop llm\\.service\``,
    ),
  );
  assert.deepEqual(await systemctl.calls(), []);
});

test('a unit name with odd characters (a space, ";", a leading "-") → refused; systemctl never runs', async () => {
  const systemctl = await standInSystemctl();
  for (const name of ['speech;reboot.service', '--host=evil.service', 'my server.service', 'x.service\nreboot']) {
    const odd = recognised({ pid: 77, kind: 'llama-server', unit: { name, scope: 'user' }, uid: myUid });
    const plan = await outsideExecutor([odd], { systemctl: { program: systemctl.program } }).plan(steps([{ action: 'stopServer' }])[0]!, 0);
    assert.equal(plan.ok, false, name);
    assert.match(plan.ok ? '' : plan.reason, /is not a plain systemd service name .* it is refused/, name);
    await assert.rejects(systemctlUser('stop', name, { program: systemctl.program }), /it is refused/);
  }
  assert.deepEqual(await systemctl.calls(), []);
});
