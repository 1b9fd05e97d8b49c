/** The fallback chain on a fake clock: triggers, one step at a time, settle, cooldown, modes, dry run. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyDevice } from '../../../src/core/gpu/types.ts';
import { FallbackChain, type ConfirmRequest } from '../../../src/core/fallback/chain.ts';
import { chainSteps, readFallbackSettings } from '../../../src/core/fallback/config.ts';
import type { FallbackExecutor } from '../../../src/core/fallback/executor.ts';
import { parseSteps, type FallbackMode } from '../../../src/core/servers/fallback-steps.ts';
import { waitForSettle } from '../../../src/core/fallback/settle.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import { nextLevel } from '../../../src/core/watch/classifier.ts';
import type { Level } from '../../../src/core/watch/levels.ts';
import { parseThresholds, resolveThresholds } from '../../../src/core/watch/thresholds.ts';
import type { WatchedSample } from '../../../src/core/watch/watcher.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const total = 8 * GiB;
const thresholds = resolveThresholds(parseThresholds({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, '2%').spec, total).thresholds;

/** A GPU whose used memory the fake executor's steps lower, and a chain over it. */
function setup(
  options: { mode?: FallbackMode; chain?: unknown[]; drops?: number[]; confirm?: (r: ConfirmRequest) => Promise<boolean>; cooldownMs?: number } = {},
) {
  const clock = new FakeClock();
  let used = 7300 * MiB;
  let level: Level = 'ok';
  const ran: string[] = [];
  const drops = options.drops ?? [600, 600, 600];
  const executor: FallbackExecutor = {
    async plan(step) {
      const i = ran.length;
      return {
        ok: true,
        target: step.target ?? 'server',
        description: `do ${step.label}`,
        run: async () => {
          ran.push(step.label);
          // memory falls over a few hundred ms, as a process exits
          const drop = (drops[i] ?? 0) * MiB;
          const part = Math.floor(drop / 3);
          for (let k = 1; k <= 3; k++) clock.setTimeout(() => (used -= k < 3 ? part : drop - 2 * part), k * 200);
          return 'ok';
        },
      };
    },
  };
  const { steps } = parseSteps(
    options.chain ?? [
      { action: 'reduceContext', target: 'llama', trigger: 'critical' },
      { action: 'unloadModel', target: 'ollama', trigger: 'critical' },
      { action: 'moveToCpu', target: 'whisper', trigger: 'emergency' },
    ],
    'test',
  );
  const chain = new FallbackChain({
    steps: () => steps,
    mode: () => options.mode ?? 'auto',
    executor,
    readUsed: async () => used,
    confirm: options.confirm ?? (async () => true),
    clock,
    cooldownMs: options.cooldownMs ?? 60_000,
    settleIntervalMs: 250,
    settleTimeoutMs: 5000,
  });
  const sample = (): WatchedSample => {
    level = nextLevel(level, used, thresholds);
    const d = emptyDevice(0);
    d.memory = { total, used, free: total - used, reserved: 0 };
    return {
      sample: { source: 'nvml', timestamp: clock.now(), driverVersion: null, sourceVersion: null, devices: [d] },
      levels: [level],
      thresholds: [thresholds],
    };
  };
  const drain = async () => {
    while (chain.busy) await clock.advance(50);
  };
  return { clock, chain, ran, sample, drain, setUsed: (mib: number) => (used = mib * MiB), used: () => used };
}

describe('fallback chain', () => {
  it('runs the first step on crossing CRITICAL, lets memory settle, and stops when below', async () => {
    const t = setup({ drops: [600] });
    t.setUsed(6000);
    t.chain.onSample(t.sample());
    assert.equal(t.chain.busy, false, 'nothing at WARNING');
    t.setUsed(7300);
    t.chain.onSample(t.sample());
    await t.drain();
    assert.deepEqual(t.ran, ['reduceContext llama']);
    const [e] = t.chain.events;
    assert.equal(e?.result, 'done');
    assert.equal(e?.level, 'critical');
    assert.equal(e?.usedBefore, 7300 * MiB);
    assert.equal(e?.usedAfter, 6700 * MiB, 'after the settle wait, not before');
    assert.ok(e!.durationMs >= 600, `settled after ${e?.durationMs} ms`);
    assert.equal(e?.gpu, 0);
  });

  it('runs the second step only while the GPU is still above its trigger', async () => {
    const t = setup({ drops: [100, 900] });
    t.chain.onSample(t.sample());
    await t.drain();
    assert.deepEqual(t.ran, ['reduceContext llama', 'unloadModel ollama']);
    assert.deepEqual(
      t.chain.events.map((e) => [e.step, e.usedBefore / MiB, e.usedAfter! / MiB]),
      [
        [0, 7300, 7200],
        [1, 7200, 6300],
      ],
    );
  });

  it('never loops: a step rests for the cooldown even when memory climbs back', async () => {
    const t = setup({ drops: [2000, 0, 0], cooldownMs: 60_000, chain: [{ action: 'reduceContext', target: 'llama', trigger: 'critical' }] });
    t.chain.onSample(t.sample());
    await t.drain();
    assert.equal(t.ran.length, 1);
    t.setUsed(7400); // the server grew back
    for (let i = 0; i < 20; i++) {
      t.chain.onSample(t.sample());
      await t.drain();
      await t.clock.advance(1000);
    }
    assert.equal(t.ran.length, 1, 'not again within the cooldown');
    await t.clock.advance(60_000);
    t.chain.onSample(t.sample());
    await t.drain();
    assert.equal(t.ran.length, 2, 'again after the cooldown');
  });

  it('asks first in confirm mode, with the numbers; a refusal ends the chain', async () => {
    const asked: ConfirmRequest[] = [];
    const t = setup({
      mode: 'confirm',
      confirm: async (r) => {
        asked.push(r);
        return false;
      },
    });
    t.chain.onSample(t.sample());
    await t.drain();
    assert.deepEqual(t.ran, []);
    assert.equal(asked.length, 1);
    assert.equal(asked[0]?.reading.used, 7300 * MiB);
    assert.equal(asked[0]?.triggerBytes, 7168 * MiB);
    assert.equal(asked[0]?.description, 'do reduceContext llama');
    assert.equal(t.chain.events[0]?.result, 'declined');
  });

  it('leaves manual steps to a person, and runs a chosen step on request', async () => {
    const t = setup({ mode: 'manual' });
    t.chain.onSample(t.sample());
    assert.equal(t.chain.busy, false);
    const run = t.chain.runStep(1, { gpu: 0, used: t.used(), total, level: 'critical', thresholds });
    await t.drain();
    const e = await run;
    assert.equal(e?.origin, 'manual');
    assert.deepEqual(t.ran, ['unloadModel ollama']);
  });

  it('fires on a percentage threshold as well as a level', async () => {
    const t = setup({ chain: [{ action: 'stopServer', target: 'vllm', trigger: '95%' }] });
    t.setUsed(7700);
    t.chain.onSample(t.sample());
    assert.equal(t.chain.busy, false, '7700 MiB is 94%');
    t.setUsed(7800);
    t.chain.onSample(t.sample());
    await t.drain();
    assert.deepEqual(t.ran, ['stopServer vllm']);
  });

  it('says in a dry run what would happen, doing nothing', async () => {
    const t = setup({ mode: 'confirm' });
    const events = await t.chain.dryRun(t.sample());
    assert.deepEqual(t.ran, []);
    assert.deepEqual(
      events.map((e) => e.result),
      ['would-run', 'would-run', 'would-run'],
    );
    assert.match(events[0]!.message, /^would ask, then do reduceContext llama; trigger CRITICAL \(7168 MiB\) is met at 7300 MiB$/);
    assert.match(events[1]!.message, /only if the GPU is still above its trigger/);
    assert.match(events[2]!.message, /once the trigger EMERGENCY \(7782 MiB\) is met; now not at 7300 MiB/);
  });

  it('keeps a dry run out of the record: no event emitted, nothing in the last actions', async () => {
    const t = setup({ mode: 'confirm' });
    const emitted: unknown[] = [];
    t.chain.on('event', (e) => emitted.push(e));
    await t.chain.dryRun(t.sample());
    assert.deepEqual(emitted, []);
    assert.deepEqual(t.chain.events, []);
  });
});

describe('fallback settings', () => {
  it('defaults to a measured setup: reduce context, unload Ollama, Whisper to CPU, in confirm mode', () => {
    const s = readFallbackSettings(() => undefined);
    assert.equal(s.mode, 'confirm');
    assert.deepEqual(
      s.steps.map((x) => [x.action, x.target, x.trigger]),
      [
        ['reduceContext', null, { kind: 'level', level: 'critical' }],
        ['unloadModel', 'ollama', { kind: 'level', level: 'critical' }],
        ['moveToCpu', 'whisper', { kind: 'level', level: 'emergency' }],
      ],
    );
    assert.equal(s.stopTimeoutMs, 10_000);
    assert.deepEqual(s.problems, []);
  });

  it('names each invalid step and keeps the valid ones', () => {
    const s = readFallbackSettings((k) =>
      k === 'fallbackChain'
        ? [
            { action: 'command', command: 'systemctl stop x' },
            { action: 'stopServer', target: 'llama', trigger: '120%' },
            { action: 'unloadModel', trigger: '7GiB' },
          ]
        : k === 'fallbackMode'
          ? 'yolo'
          : undefined,
    );
    assert.equal(s.steps.length, 1);
    assert.deepEqual(s.steps[0]?.trigger, { kind: 'threshold', threshold: { kind: 'bytes', bytes: 7 * GiB } });
    assert.match(s.problems[0]!, /fallbackChain\[0\]: "command" must be an array .*would need a shell/);
    assert.match(s.problems[1]!, /fallbackChain\[1\]: trigger "120%"/);
    assert.match(s.problems[2]!, /fallbackMode must be one of auto, confirm, manual/);
  });

  it("aims a task's own steps at that task", () => {
    const own = parseSteps([{ action: 'moveToCpu', trigger: 'emergency' }], 't').steps;
    const steps = chainSteps([], [{ name: 'whisper', steps: own }]);
    assert.equal(steps[0]?.target, 'whisper');
    assert.equal(steps[0]?.label, 'moveToCpu whisper');
  });
});

describe('settle', () => {
  it('waits until memory stops falling, or the timeout', async () => {
    const clock = new FakeClock();
    const values = [9, 7, 5, 4, 4, 4, 4];
    let i = 0;
    const p = waitForSettle({ readUsed: async () => values[Math.min(i++, values.length - 1)]!, clock, intervalMs: 100, timeoutMs: 5000 });
    await clock.advance(1000);
    assert.deepEqual(await p, { usedAfter: 4, settled: true, waitedMs: 500 });
    let v = 100;
    const q = waitForSettle({ readUsed: async () => v--, clock, intervalMs: 100, timeoutMs: 300 });
    await clock.advance(1000);
    assert.equal((await q).settled, false);
  });
});
