/**
 * Fault matrix: CUDA-error cascades in the output of a server VRAM Guard runs, and the fallback
 * chain's `cascade` steps. Real processes: the llama-server emulator writes CUDA error lines at
 * field note 001's rate (40–50 a second) to its stderr, as the speech daemon did.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FallbackChain } from '../../src/core/fallback/chain.ts';
import { ServerExecutor } from '../../src/core/fallback/server-executor.ts';
import { Emitter } from '../../src/core/events.ts';
import { recordHistory } from '../../src/core/history/recorder.ts';
import { HistoryStore } from '../../src/core/history/store.ts';
import { parseSteps } from '../../src/core/servers/fallback-steps.ts';
import { watchServerCascades } from '../../src/core/servers/server-cascades.ts';
import { validateTaskDefinition } from '../../src/core/servers/task-definition.ts';
import type { ServerCascade } from '../../src/core/servers/server-registry.ts';
import { GiB, MiB } from '../../src/core/units.ts';
import type { LevelTransition } from '../../src/core/watch/classifier.ts';
import type { WatchedSample } from '../../src/core/watch/watcher.ts';
import { baseGpu, ServerHarness } from '../helpers/server-harness.ts';
import { pollUntil } from '../helpers/servers.ts';

let h: ServerHarness;
before(async () => {
  h = await ServerHarness.create();
  await h.fake.write({ devices: [baseGpu({ total: 4 * GiB, used: 300 * MiB, processes: [] })] });
});
after(async () => {
  await h?.dispose();
});

async function watched(): Promise<WatchedSample> {
  return { sample: await h.source.sample(Date.now()), levels: ['critical'], thresholds: [null] };
}

function chainOf(chainSetting: unknown[], trusted: boolean) {
  const { steps, problems } = parseSteps(chainSetting, 'vramGuard.fallbackChain');
  const audit: string[] = [];
  const chain = new FallbackChain({
    steps: () => steps,
    mode: () => 'confirm',
    executor: new ServerExecutor({ registry: h.registry, isTrusted: () => trusted }),
    readUsed: async () => h.used(),
    confirm: async () => true,
    cooldownMs: 600_000,
    settleIntervalMs: 50,
    settleTimeoutMs: 2000,
    log: (m) => audit.push(m),
  });
  return { chain, audit, problems };
}

test('a server cascades at 45 CUDA errors a second → a cascade marker, and its cascade step restarts it once; another cascade in the cooldown restarts nothing', async () => {
  const server = await h.task(
    'speech',
    'llama-server',
    ['-m', 'model.gguf', '-c', '2048', '--weights-mib', '600', '--kv-mib-per-1k', '64', '--cuda-errors', '45'],
    {
      needs: '1GiB',
    },
  );
  const store = new HistoryStore({ dir: null });
  const watcher = new Emitter<{ sample: [WatchedSample]; transition: [LevelTransition] }>();
  const stopRecording = recordHistory({ store, watcher, registry: h.registry, readSystem: async () => null });
  const { chain, audit } = chainOf([{ action: 'restartServer', trigger: 'cascade' }], true);
  const cascades: ServerCascade[] = [];
  const offWatch = watchServerCascades(server, h.registry);
  const offChain = h.registry.on('cascade', (c) => {
    cascades.push(c);
    void watched().then((w) => {
      watcher.emit('sample', w);
      chain.onCascade({ name: c.server, kind: c.kind, gpu: c.gpu }, w);
    });
  });
  try {
    assert.ok((await server.start()).ok);
    const firstPid = server.pid;
    watcher.emit('sample', await watched());
    await pollUntil(() => chain.events.find((e) => e.result === 'done' || e.result === 'failed'), 'the cascade step to run', 20_000, 50);
    await chain.idle();
    const event = chain.events.at(-1)!;
    assert.equal(event.result, 'done', event.message);
    assert.match(event.message, /^restart "speech" after a CUDA-error cascade in its output: restarted \(PID \d+\)$/);
    assert.equal(server.state, 'ready');
    assert.notEqual(server.pid, firstPid);
    assert.ok(audit.some((l) => /^fallback DONE · GPU 0 CRITICAL · step 1 restartServer \(triggered, confirm mode\) on speech: restart "speech"/.test(l)));

    const markers = store.events().filter((e) => e.kind === 'cascade');
    assert.equal(markers.length, 1);
    assert.match(
      markers[0]!.text,
      new RegExp(`^speech \\(PID ${firstPid}\\): cascade, \\d+ CUDA error lines, \\d+ a second · GPU 0 CRITICAL at \\d+ MiB of 4096 MiB$`),
    );

    // The restarted server still errs: another cascade, inside the cooldown, restarts nothing.
    assert.equal(chain.onCascade({ name: 'speech', kind: 'llama-server', gpu: 0 }, await watched()), 0);
    assert.equal(chain.events.filter((e) => e.result === 'done').length, 1);
  } finally {
    offChain();
    offWatch();
    stopRecording();
    await chain.idle();
    await server.stop('test finished');
  }
});

test('fallback trigger "cascades" (not a trigger) → the step refused naming the triggers there are; the others kept', () => {
  const { chain, problems } = chainOf(
    [
      { action: 'restartServer', trigger: 'cascades' },
      { action: 'restartServer', trigger: 'onCascade' },
    ],
    true,
  );
  assert.deepEqual(problems, [
    'vramGuard.fallbackChain[0]: trigger "cascades" is neither a level (warning, critical, emergency), a threshold ("95%", "7GiB") nor "cascade". This step is left out.',
  ]);
  chain.dispose();
});

test('a cascade step in an untrusted workspace → skipped: restarts run only in a trusted workspace; nothing stops', async () => {
  const server = await h.task('untrusted', 'llama-server', ['-m', 'model.gguf', '-c', '2048', '--weights-mib', '600', '--kv-mib-per-1k', '64'], {
    needs: '1GiB',
  });
  const { chain } = chainOf([{ action: 'restartServer', trigger: 'cascade' }], false);
  try {
    assert.ok((await server.start()).ok);
    const pid = server.pid;
    assert.equal(chain.onCascade({ name: 'untrusted', kind: 'llama-server', gpu: 0 }, await watched()), 1);
    await chain.idle();
    const event = chain.events.at(-1)!;
    assert.equal(event.result, 'skipped');
    assert.equal(event.message, 'nothing to do: restarts run only in a trusted workspace (Workspace Trust)');
    assert.equal(server.pid, pid);
    assert.equal(server.state, 'ready');
  } finally {
    await server.stop('test finished');
  }
});

test('a task with "restart": "always" or "maxRestartsPerHour": 0 → not started, each field named with what it takes', () => {
  const v = validateTaskDefinition(
    { type: 'vram-guard', server: 'llama-server', args: ['-m', 'm.gguf'], needs: '1GiB', restart: 'always', maxRestartsPerHour: 0 },
    'speech',
  );
  assert.equal(v.ok, false);
  assert.deepEqual(!v.ok && v.problems, [
    'Task "speech": "restart" must be "on-failure" or "never".',
    'Task "speech": "maxRestartsPerHour" must be a whole number from 1 to 1000.',
  ]);
});
