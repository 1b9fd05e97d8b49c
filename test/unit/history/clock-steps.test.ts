/** The history store when the clock steps back: the chart goes on from the new time, and the log says so without flooding. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HistoryStore } from '../../../src/core/history/store.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { MiB } from '../../../src/core/units.ts';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const sample = (t: number, usedMiB: number) => ({ t, gpus: [{ gpu: 0, used: usedMiB * MiB, total: 8192 * MiB }], system: null });

describe('history clock steps', () => {
  it('says every step of a second or more, and a jitter of milliseconds only once', () => {
    const logs: string[] = [];
    const s = new HistoryStore({ dir: null, clock: new FakeClock(T0 + 60_000), log: (m) => logs.push(m) });
    s.record(sample(T0, 1));
    s.record(sample(T0 + 1000, 2));
    s.record(sample(T0 + 995, 3)); // 5 ms back
    s.record(sample(T0 + 2000, 4));
    s.record(sample(T0 + 1990, 5)); // 10 ms back: not said again
    s.record(sample(T0 + 3000, 6));
    s.record(sample(T0 + 1500, 7)); // 1.5 s back
    assert.deepEqual(s.clockSteps, { count: 3, droppedPoints: 4 });
    assert.equal(logs.length, 2, logs.join('\n'));
    assert.match(logs[0]!, /^history: the clock went back 5 ms .*; steps back of less than a second are not logged again\.$/);
    assert.match(logs[1]!, /^history: the clock went back 2 s \(a sample stamped 2026-03-02T09:00:01\.500Z came after one stamped 2026-03-02T09:00:03\.000Z\)/);
    assert.deepEqual(
      s.range('gpu:0', 0, Infinity).v.map((v) => v / MiB),
      [1, 3, 7],
    );
  });
});
