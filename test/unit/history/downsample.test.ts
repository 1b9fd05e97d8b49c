/** Min/max downsampling and the in-memory series: peaks survive at their true height and time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { minMaxDownsample, type Points } from '../../../src/core/history/downsample.ts';
import { Series } from '../../../src/core/history/series.ts';
import { MiB } from '../../../src/core/units.ts';

function noisy(n: number, start = 0): Points {
  const p: Points = { t: [], v: [] };
  for (let i = 0; i < n; i++) {
    p.t.push(start + i * 1000);
    p.v.push(3600 * MiB + ((i * 7919) % 13) * MiB);
  }
  return p;
}

describe('min/max downsampling', () => {
  it('keeps every point when they fit', () => {
    const p = noisy(100);
    assert.deepEqual(minMaxDownsample(p, 0, 1e9, 200), p);
  });

  it('keeps a one-sample spike exactly (value and time) in a day of 1 Hz data', () => {
    const p = noisy(86_400);
    p.v[50_000] = 3740 * MiB; // the speech burst: one second
    p.v[60_000] = 100 * MiB; // one low dip
    const out = minMaxDownsample(p, 0, 86_400_000, 2000);
    assert.ok(out.t.length <= 2000, `${out.t.length} points`);
    const peak = out.v.indexOf(Math.max(...out.v));
    assert.equal(out.v[peak], 3740 * MiB);
    assert.equal(out.t[peak], 50_000_000);
    assert.equal(Math.min(...out.v), 100 * MiB);
    for (let i = 1; i < out.t.length; i++) assert.ok(out.t[i]! >= out.t[i - 1]!, 'time order');
  });

  it('answers only the asked range', () => {
    const out = minMaxDownsample(noisy(1000), 10_000, 19_000, 100);
    assert.equal(out.t[0], 10_000);
    assert.equal(out.t.at(-1), 19_000);
    assert.equal(out.t.length, 10);
  });
});

describe('history series', () => {
  it('keeps the recent hour at full rate and older data as min/max buckets with exact peaks', () => {
    const s = new Series({ recentMs: 3_600_000, bucketMs: 10_000, retentionMs: 7 * 86_400_000 });
    const p = noisy(86_400);
    p.v[1234] = 4000 * MiB;
    for (let i = 0; i < p.t.length; i++) s.add(p.t[i]!, p.v[i]!);
    // 23 h in 10 s buckets (≤ 2 points each) + 1 h at 1 Hz.
    assert.ok(s.size <= 23 * 360 * 2 + 3600 + 2, `${s.size} points held`);
    const old = s.range(0, 3_600_000);
    assert.ok(old.v.includes(4000 * MiB), 'the old peak is kept');
    assert.equal(old.t[old.v.indexOf(4000 * MiB)], 1_234_000);
    const recent = s.range(86_399_000 - 600_000, 86_399_000);
    assert.equal(recent.t.length, 601, 'the last 10 minutes at full rate');
    const view = s.range(0, 86_400_000, 1500);
    assert.ok(view.t.length <= 1500);
    assert.equal(Math.max(...view.v), 4000 * MiB);
  });

  it('drops data older than the retention and ignores points that go back in time', () => {
    const s = new Series({ recentMs: 60_000, bucketMs: 10_000, retentionMs: 3_600_000 });
    for (let t = 0; t <= 7_200_000; t += 1000) s.add(t, 1);
    s.add(5, 99);
    assert.ok(s.first! >= 3_600_000 - 10_000, `first ${s.first}`);
    assert.equal(s.last, 7_200_000);
    assert.ok(!s.range(0, 1e9).v.includes(99));
  });
});
