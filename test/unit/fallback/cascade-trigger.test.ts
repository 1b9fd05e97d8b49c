/**
 * The fallback chain's `cascade` trigger on a fake clock: CUDA error lines replayed at field note
 * 001's rate (4,759 in 4 minutes, 40–50 a second) make one cascade, and the step that targets the
 * server runs once, on that server, asked first by default, then rests for its cooldown; a level
 * never fires it, and a cascade never fires a level's step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ConfirmRequest, FallbackChain } from '../../../src/core/fallback/chain.ts';
import type { FallbackExecutor } from '../../../src/core/fallback/executor.ts';
import { emptyDevice } from '../../../src/core/gpu/types.ts';
import { CascadeWatch } from '../../../src/core/servers/cascade-watch.ts';
import { describeTrigger, type FallbackMode, parseSteps, parseTrigger } from '../../../src/core/servers/fallback-steps.ts';
import { GiB } from '../../../src/core/units.ts';
import type { WatchedSample } from '../../../src/core/watch/watcher.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const USED = Math.round(0.91 * 4 * GiB);

function scene(options: { mode?: FallbackMode; confirm?: (r: ConfirmRequest) => Promise<boolean>; chain?: unknown[] } = {}) {
  const clock = new FakeClock(1_800_000_000_000);
  const ran: Array<{ action: string; target: string | null }> = [];
  const executor: FallbackExecutor = {
    async plan(step) {
      return {
        ok: true,
        target: step.target ?? 'none',
        description: `${step.action} ${step.target}`,
        run: async () => {
          ran.push({ action: step.action, target: step.target });
          return 'ok';
        },
      };
    },
  };
  const { steps, problems } = parseSteps(
    options.chain ?? [
      { action: 'unloadModel', target: 'ollama', trigger: 'critical' },
      { action: 'restartServer', target: 'whisper', trigger: 'cascade' },
    ],
    'test',
  );
  assert.deepEqual(problems, []);
  const audit: string[] = [];
  const asked: ConfirmRequest[] = [];
  const chain = new FallbackChain({
    steps: () => steps,
    mode: () => options.mode ?? 'confirm',
    executor,
    readUsed: async () => USED,
    confirm: async (r) => {
      asked.push(r);
      return options.confirm ? options.confirm(r) : true;
    },
    clock,
    cooldownMs: 120_000,
    settleIntervalMs: 250,
    settleTimeoutMs: 1000,
    log: (m) => audit.push(m),
  });
  const d = emptyDevice(0);
  d.memory = { total: 4 * GiB, used: USED, free: 4 * GiB - USED, reserved: 0 };
  const watched = (): WatchedSample => ({
    sample: { source: 'nvml', timestamp: clock.now(), driverVersion: null, sourceVersion: null, devices: [d] },
    levels: ['ok'],
    thresholds: [null],
  });
  const server = { name: 'nemo-asr', kind: 'faster-whisper', gpu: 0 };
  let cascades = 0;
  const watch = new CascadeWatch({
    now: () => clock.now(),
    onCascade: () => {
      cascades++;
      chain.onCascade(server, watched());
    },
  });
  /** `seconds` of CUDA error lines at `perSecond`, on the fake clock. */
  const replay = async (seconds: number, perSecond: number) => {
    for (let i = 0; i < seconds * perSecond; i++) {
      await clock.advance(1000 / perSecond);
      watch.push('CUDA error: unspecified launch failure\n', 'stderr');
    }
  };
  const drain = async () => {
    while (chain.busy) await clock.advance(100);
  };
  return { clock, chain, ran, audit, asked, replay, drain, cascades: () => cascades, watched, server };
}

describe('the cascade trigger', () => {
  it('is read from settings as "cascade" or "onCascade", with a restartServer step', () => {
    assert.deepEqual(parseTrigger('cascade'), { kind: 'cascade' });
    assert.deepEqual(parseTrigger('onCascade'), { kind: 'cascade' });
    assert.equal(describeTrigger({ kind: 'cascade' }), 'CASCADE');
    const { steps, problems } = parseSteps([{ action: 'restartServer', trigger: 'cascade' }], 'vramGuard.fallbackChain');
    assert.deepEqual(problems, []);
    assert.equal(steps[0]?.label, 'restartServer');
    const bad = parseSteps([{ action: 'restartServer', trigger: 'cascades' }], 'vramGuard.fallbackChain');
    assert.match(bad.problems[0] ?? '', /vramGuard\.fallbackChain\[0\]: trigger "cascades" is neither a level .* nor "cascade"/);
  });

  it('at the field note rate: one cascade, one restart of that server, asked first, with an audit line', async () => {
    const s = scene();
    // 4 minutes at 45 a second: one long cascade.
    await s.replay(240, 45);
    await s.drain();
    assert.equal(s.cascades(), 1);
    assert.deepEqual(s.ran, [{ action: 'restartServer', target: 'nemo-asr' }]);
    assert.equal(s.asked.length, 1, 'confirm mode asks first');
    assert.equal(s.asked[0]?.step.trigger.kind, 'cascade');
    const line = s.audit.find((l) => l.startsWith('fallback DONE'));
    assert.match(
      line ?? '',
      /step 2 restartServer whisper \(triggered, confirm mode\) on nemo-asr: restartServer nemo-asr: ok · 3727 MiB → 3727 MiB of 4096 MiB/,
    );
    assert.equal(s.chain.events.at(-1)?.result, 'done');
  });

  it('a second cascade inside the cooldown restarts nothing; after it, the step runs again', async () => {
    const s = scene({ mode: 'auto' });
    await s.replay(5, 45);
    await s.drain();
    await s.clock.advance(30_000); // quiet: the first cascade ends
    await s.replay(5, 45);
    await s.drain();
    assert.equal(s.cascades(), 2);
    assert.equal(s.ran.length, 1, 'the cooldown holds the second');
    await s.clock.advance(120_000);
    await s.replay(5, 45);
    await s.drain();
    assert.equal(s.cascades(), 3);
    assert.equal(s.ran.length, 2);
    assert.equal(s.asked.length, 0, 'auto mode does not ask');
  });

  it('declined: nothing restarts, the refusal is in the audit', async () => {
    const s = scene({ confirm: async () => false });
    await s.replay(5, 45);
    await s.drain();
    assert.deepEqual(s.ran, []);
    assert.ok(s.audit.some((l) => l.startsWith('fallback DECLINED') && l.includes('on nemo-asr')));
  });

  it('fires for the server it targets only, never on a level, and not at 4 errors a second', async () => {
    const s = scene({
      mode: 'auto',
      chain: [
        { action: 'restartServer', target: 'llama-server', trigger: 'cascade' },
        { action: 'unloadModel', target: 'ollama', trigger: 'warning' },
      ],
    });
    await s.replay(5, 45);
    await s.drain();
    assert.equal(s.cascades(), 1);
    assert.deepEqual(s.ran, [], 'the cascade was in nemo-asr, the step targets llama-server; the level step waits for a level');
    s.chain.onSample(s.watched());
    await s.drain();
    assert.deepEqual(s.ran, [], 'level ok: the level step does not run, and samples never run a cascade step');

    const slow = scene({ mode: 'auto' });
    await slow.replay(20, 4);
    await slow.drain();
    assert.equal(slow.cascades(), 0);
    assert.deepEqual(slow.ran, []);
  });

  it('manual cascade steps wait for a person; the dry run says what the step waits for', async () => {
    const s = scene({ mode: 'manual' });
    await s.replay(5, 45);
    await s.drain();
    assert.deepEqual(s.ran, []);
    const dry = await s.chain.dryRun(s.watched());
    assert.match(dry[1]?.message ?? '', /^would restartServer whisper when a server's output cascades \(CUDA errors\), only by hand \(manual\)$/);
  });
});
