/** A series going back in time when the clock steps back: the points from that time on are dropped, wherever they are held. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Series } from '../../../src/core/history/series.ts';

describe('history series rewind', () => {
  it('drops the full-rate points from the given time on and takes the points after it', () => {
    const s = new Series({ recentMs: 3_600_000, bucketMs: 10_000, retentionMs: 86_400_000 });
    for (let t = 0; t <= 100_000; t += 1000) s.add(t, t);
    assert.equal(s.rewind(50_000), 51);
    assert.equal(s.last, 49_000);
    s.add(50_000, -1);
    const r = s.range(0, Infinity);
    assert.equal(r.t.length, 51);
    assert.deepEqual([r.t.at(-1), r.v.at(-1)], [50_000, -1]);
  });

  it('drops older min/max buckets and the open bucket past the time, keeping those before it', () => {
    const s = new Series({ recentMs: 60_000, bucketMs: 10_000, retentionMs: 86_400_000 });
    for (let t = 0; t <= 600_000; t += 1000) s.add(t, t % 7_000);
    const before = s.range(0, Infinity);
    const dropped = s.rewind(200_000);
    const after = s.range(0, Infinity);
    assert.equal(dropped, before.t.length - after.t.length);
    assert.ok(
      after.t.every((t) => t < 200_000),
      `points from 200 s on are left: ${after.t.filter((t) => t >= 200_000).join(', ')}`,
    );
    assert.deepEqual(
      after.t,
      before.t.filter((t) => t < 200_000),
      'the points before the time are all kept',
    );
    s.add(200_000, 5);
    assert.equal(s.last, 200_000);
  });

  it('does nothing for a time after the newest point', () => {
    const s = new Series();
    s.add(1000, 1);
    assert.equal(s.rewind(2000), 0);
    assert.equal(s.last, 1000);
  });
});
