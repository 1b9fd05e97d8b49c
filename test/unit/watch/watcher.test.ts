/** The watcher loop, on a fake clock: levels, transitions, errors, re-probing, adaptive rate, stop. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GiB, MiB } from '../../../src/core/units.ts';
import type { LevelTransition } from '../../../src/core/watch/classifier.ts';
import { parseThresholds } from '../../../src/core/watch/thresholds.ts';
import { Watcher, type OpenSource, type SourceStatus } from '../../../src/core/watch/watcher.ts';
import { DriverNotAnsweringError } from '../../../src/core/gpu/not-answering.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { ScriptedSource } from '../../helpers/scripted-source.ts';

const fieldThresholds = parseThresholds({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, '2%').spec;
const fixedRate = { enabled: false, fastIntervalMs: 250, calmIntervalMs: 2000, margin: { kind: 'percent' as const, percent: 5 } };

function setup(options: { source?: ScriptedSource; open?: OpenSource; adaptive?: boolean } = {}) {
  const clock = new FakeClock();
  const source = options.source ?? new ScriptedSource(8 * GiB, [1464 * MiB]);
  let opens = 0;
  const open: OpenSource =
    options.open ??
    (async () => {
      opens++;
      return { ok: true, source };
    });
  const watcher = new Watcher({
    openSource: open,
    thresholds: fieldThresholds,
    intervalMs: 1000,
    adaptive: options.adaptive ? undefined : fixedRate,
    clock,
  });
  const transitions: LevelTransition[] = [];
  const statuses: SourceStatus['state'][] = [];
  watcher.on('transition', (t) => transitions.push(t));
  watcher.on('status', (s) => statuses.push(s.state));
  return { clock, source, watcher, transitions, statuses, opens: () => opens };
}

describe('watcher', () => {
  it('classifies each sample and emits a transition with time, GPU, from, to and used bytes', async () => {
    const { clock, source, watcher, transitions } = setup();
    watcher.start();
    await clock.advance(0);
    assert.equal(watcher.latest?.levels[0], 'ok');
    const start = clock.now();
    for (const used of [2580, 5418, 5421, 6200, 7200, 7800, 7700, 5000]) {
      source.used = [used * MiB];
      await clock.advance(1000);
    }
    assert.deepEqual(
      transitions.map((t) => [t.from, t.to, t.usedBytes / MiB, t.timestamp - start, t.gpu, t.uuid]),
      [
        ['ok', 'warning', 6200, 4000, 0, 'GPU-test-0'],
        ['warning', 'critical', 7200, 5000, 0, 'GPU-test-0'],
        ['critical', 'emergency', 7800, 6000, 0, 'GPU-test-0'],
        // 7700 stays EMERGENCY: within 2% (164 MiB) of 7782
        ['emergency', 'ok', 5000, 8000, 0, 'GPU-test-0'],
      ],
    );
    await watcher.stop();
  });

  it('never overlaps ticks: a slow sample delays the next one', async () => {
    const { clock, source, watcher } = setup();
    let release!: () => void;
    source.gate = new Promise((r) => (release = r));
    watcher.start();
    await clock.advance(10_000);
    assert.equal(source.samples, 1, 'one sample in flight, none started beside it');
    source.gate = null;
    release();
    await clock.advance(0);
    await clock.advance(1000);
    assert.equal(source.samples, 2);
    await watcher.stop();
  });

  it('backs off on errors, then closes the source and probes again; recovers when the GPU answers', async () => {
    const { clock, source, watcher, statuses, opens } = setup();
    const errors: string[] = [];
    watcher.on('error', (e) => errors.push(e.message));
    watcher.start();
    await clock.advance(0);
    source.failWith = new Error('GPU is lost');
    await clock.advance(1000); // first failure
    assert.deepEqual(clock.pendingDelays(), [2000]);
    await clock.advance(2000); // second
    assert.deepEqual(clock.pendingDelays(), [4000]);
    await clock.advance(4000); // third: the source is closed
    assert.equal(source.disposed, true);
    assert.equal(watcher.status.state, 'none');
    assert.equal(errors.length, 3);
    source.failWith = null;
    source.disposed = false;
    await clock.advance(8000); // probes again and samples
    assert.equal(opens(), 2);
    assert.equal(watcher.status.state, 'ready');
    assert.deepEqual(statuses, ['probing', 'ready', 'none', 'probing', 'ready']);
    await watcher.stop();
  });

  it('a driver call not answering: every GPU shows "not answering since", the level stays, sampling goes on; stuck too long, the source is replaced', async () => {
    const { clock, source, watcher, transitions, statuses, opens } = setup();
    source.used = [7200 * MiB];
    watcher.start();
    await clock.advance(0);
    assert.equal(watcher.latest?.levels[0], 'critical');
    const since = clock.now() + 1000;
    source.failWith = new DriverNotAnsweringError('an NVML sample', since, 3000);
    await clock.advance(1000);
    const d = watcher.latest!.sample.devices[0]!;
    assert.equal(d.memory, null);
    assert.equal(d.error?.code, 'NOT_ANSWERING');
    assert.equal(d.error?.since, since);
    assert.equal(d.uuid, 'GPU-test-0', 'the GPU keeps its identity');
    assert.equal(watcher.latest!.levels[0], 'critical', 'the level stays where it was');
    assert.equal(watcher.lastDelayMs, 1000, 'no back-off: the GPU is read again at the normal rate');
    await clock.advance(28_000);
    assert.equal(statuses.at(-1), 'ready', 'still the same source');
    assert.equal(opens(), 1);
    await clock.advance(2000);
    assert.equal(source.disposed, true, 'after 30 s not answering the source is closed');
    source.failWith = null;
    source.used = [5000 * MiB];
    await clock.advance(1000);
    assert.equal(opens(), 2, 'and a fresh one opened');
    assert.equal(watcher.latest!.sample.devices[0]!.memory?.used, 5000 * MiB);
    assert.deepEqual(
      transitions.map((t) => t.to),
      ['critical', 'ok'],
      'no level change while it did not answer',
    );
    await watcher.stop();
  });

  it('with no GPU, says why, looks again later, and notices a GPU that appears', async () => {
    const source = new ScriptedSource(4 * GiB, [GiB]);
    let available = false;
    const { clock, watcher } = setup({
      open: async () => (available ? { ok: true, source } : { ok: false, reason: 'no NVML: libnvidia-ml.so.1 not found' }),
    });
    watcher.start();
    await clock.advance(0);
    assert.deepEqual(watcher.status, { state: 'none', reason: 'no NVML: libnvidia-ml.so.1 not found' });
    assert.deepEqual(clock.pendingDelays(), [30_000]);
    available = true;
    await clock.advance(30_000);
    assert.equal(watcher.status.state, 'ready');
    assert.equal(watcher.latest?.sample.devices[0]?.memory?.used, GiB);
    await watcher.stop();
  });

  it('adapts the rate: fast near a threshold and at CRITICAL, slow when calm, normal between', async () => {
    const { clock, source, watcher } = setup({ adaptive: true });
    watcher.start();
    await clock.advance(0);
    assert.equal(watcher.lastDelayMs, 2000, 'calm at 1464 MiB');
    source.used = [5800 * MiB]; // within 5% (410 MiB) of WARNING at 6144
    await clock.advance(2000);
    assert.equal(watcher.lastDelayMs, 250);
    source.used = [5500 * MiB]; // 644 MiB below WARNING: within twice the margin, not within it
    await clock.advance(250);
    assert.equal(watcher.lastDelayMs, 1000);
    source.used = [7300 * MiB]; // CRITICAL
    await clock.advance(1000);
    assert.equal(watcher.lastDelayMs, 250);
    await watcher.stop();
  });

  it('reading(): the latest sample with its source, or why there is none', async () => {
    const { clock, watcher } = setup();
    assert.deepEqual(watcher.reading(), { ok: false, reason: 'the GPU is still being probed; try again in a moment' });
    watcher.start();
    await clock.advance(0);
    const r = watcher.reading();
    assert.ok(r.ok);
    assert.equal(r.description, 'scripted test source');
    assert.equal(r.sample.devices[0]?.memory?.used, 1464 * MiB);
    await watcher.stop();
    const none = setup({ open: async () => ({ ok: false, reason: 'no NVML: not found' }) });
    none.watcher.start();
    await none.clock.advance(0);
    assert.deepEqual(none.watcher.reading(), { ok: false, reason: 'no NVML: not found' });
    await none.watcher.stop();
  });

  it('stop leaves no timer and closes the source', async () => {
    const { clock, source, watcher } = setup();
    watcher.start();
    await clock.advance(3000);
    await watcher.stop();
    assert.deepEqual(clock.pendingDelays(), []);
    assert.equal(source.disposed, true);
    const before = source.samples;
    await clock.advance(10_000);
    assert.equal(source.samples, before);
  });

  it('stop aborts an open in flight and resolves without waiting for it', async () => {
    const clock = new FakeClock();
    let aborted = false;
    const watcher = new Watcher({
      // An open that ends only when told, as nvmlInit does when the driver hangs.
      openSource: (signal) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve({ ok: false, reason: 'stopped' });
          });
        }),
      thresholds: fieldThresholds,
      intervalMs: 1000,
      adaptive: fixedRate,
      clock,
    });
    watcher.start();
    await clock.advance(0);
    await watcher.stop();
    assert.equal(aborted, true);
    assert.equal(watcher.latest, null);
  });

  it('stop while a sample is in flight closes the source at once and emits nothing after', async () => {
    const clock = new FakeClock();
    let rejectSample: (err: Error) => void = () => {};
    let disposed = false;
    const source = {
      kind: 'nvml' as const,
      description: 'a sample that never returns by itself',
      sample: () => new Promise<never>((_, reject) => (rejectSample = reject)),
      dispose: async () => {
        disposed = true;
        rejectSample(new Error('NVML source is closed'));
      },
    };
    const watcher = new Watcher({ openSource: async () => ({ ok: true, source }), thresholds: fieldThresholds, intervalMs: 1000, adaptive: fixedRate, clock });
    const errors: Error[] = [];
    watcher.on('error', (e) => errors.push(e));
    watcher.start();
    await clock.advance(0);
    await watcher.stop();
    assert.equal(disposed, true);
    assert.deepEqual(errors, []);
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it('reports thresholds that do not fit a GPU once, and uses the defaults there', async () => {
    const clock = new FakeClock();
    const source = new ScriptedSource(4 * GiB, [3.5 * GiB]);
    const watcher = new Watcher({
      openSource: async () => ({ ok: true, source }),
      thresholds: parseThresholds({ warning: '6GiB', critical: '7GiB', emergency: '7.5GiB' }, '2%').spec,
      intervalMs: 1000,
      adaptive: fixedRate,
      clock,
    });
    const problems: string[][] = [];
    watcher.on('problems', (p) => problems.push(p));
    watcher.start();
    await clock.advance(3000);
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]![0]!,
      /^GPU 0: vramGuard\.thresholds: warning 6144 MiB, critical 7168 MiB, emergency 7680 MiB is above this GPU's total of 4096 MiB/,
    );
    assert.equal(watcher.latest?.levels[0], 'warning', '3.5 of 4 GiB is 87.5%: WARNING under the default 80/90/95%');
    await watcher.stop();
  });
});
