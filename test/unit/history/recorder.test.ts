/** The recorder: watcher samples (with RAM and swap), level changes and fallback steps reach the history. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Emitter } from '../../../src/core/events.ts';
import type { FallbackEvent } from '../../../src/core/fallback/events.ts';
import type { LevelTransition } from '../../../src/core/watch/classifier.ts';
import { recordHistory } from '../../../src/core/history/recorder.ts';
import { HistoryStore } from '../../../src/core/history/store.ts';
import { parseMeminfo } from '../../../src/core/history/system-memory.ts';
import type { WatchedSample } from '../../../src/core/watch/watcher.ts';
import { FakeClock, settle } from '../../helpers/fake-clock.ts';
import { oneGpuSample } from '../../helpers/watched-sample.ts';
import { MiB } from '../../../src/core/units.ts';

const GiB = 1024 * MiB;

const watched = (t: number, usedMiB: number) => oneGpuSample({ time: t, name: 'A', totalBytes: 4 * GiB, usedBytes: usedMiB * MiB, freeBytes: 0, level: 'ok' });

describe('history recorder', () => {
  it('records samples with system memory, transitions and fallback steps', async () => {
    const clock = new FakeClock(1_000_000);
    const store = new HistoryStore({ dir: null, clock });
    const watcher = new Emitter<{ sample: [WatchedSample]; transition: [LevelTransition] }>();
    const chain = new Emitter<{ event: [FallbackEvent] }>();
    let reads = 0;
    const stop = recordHistory({
      store,
      watcher,
      chain,
      clock,
      readSystem: async () => {
        reads++;
        return { ramUsed: 789 * MiB, ramTotal: 16 * GiB, swapUsed: 0, swapTotal: 8 * GiB };
      },
    });
    await settle();
    for (let i = 0; i < 5; i++) watcher.emit('sample', watched(1_000_000 + i * 250, 3600));
    assert.equal(reads, 1, 'RAM is read at most once a second');
    watcher.emit('transition', { timestamp: 1_000_500, gpu: 0, uuid: null, from: 'warning', to: 'critical', usedBytes: 3740 * MiB, totalBytes: 4 * GiB });
    const ev = (origin: FallbackEvent['origin']): FallbackEvent => ({
      time: 1_000_600,
      gpu: 0,
      level: 'critical',
      step: 0,
      label: 'unloadModel ollama',
      action: 'unloadModel',
      target: 'ollama',
      mode: 'manual',
      origin,
      result: origin === 'dry-run' ? 'would-run' : 'done',
      message: 'unloaded',
      usedBefore: 3740 * MiB,
      usedAfter: 1200 * MiB,
      totalBytes: 4 * GiB,
      durationMs: 10,
    });
    chain.emit('event', ev('manual'));
    stop();
    watcher.emit('sample', watched(1_002_000, 1));
    assert.equal(store.range('gpu:0', 0, Infinity).t.length, 5);
    assert.equal(store.range('ram', 0, Infinity).v[0], 789 * MiB);
    assert.deepEqual(
      store.events().map((e) => [e.kind, e.level]),
      [
        ['transition', 'critical'],
        ['fallback', 'critical'],
      ],
    );
    assert.match(store.events()[0]!.text, /WARNING → CRITICAL at 3740 MiB/);
    assert.equal(store.events()[1]!.usedAfter, 1200 * MiB);
    assert.equal(store.events()[1]!.t, 1_000_590, 'a step is marked when it started');
  });

  it('reads RAM and swap from /proc/meminfo', () => {
    const m = parseMeminfo(
      'MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:   15000000 kB\nSwapTotal:       8000000 kB\nSwapFree:        6700000 kB\n',
    );
    assert.deepEqual(m, { ramTotal: 16_000_000 * 1024, ramUsed: 1_000_000 * 1024, swapTotal: 8_000_000 * 1024, swapUsed: 1_300_000 * 1024 });
    assert.equal(parseMeminfo('nothing'), null);
  });
});
