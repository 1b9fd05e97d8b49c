/** Trend: slope, time to OOM, and "not a leak: constant for 10 h 50 m". */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration } from '../../../src/core/duration.ts';
import { computeTrend, trendText } from '../../../src/core/watch/trend.ts';
import { MiB } from '../../../src/core/units.ts';

const total = 4096 * MiB;

describe('trend', () => {
  it('calls the field report steady: 3.6 GB constant for 10 h 50 m 54 s is not a leak', () => {
    const t: number[] = [];
    const v: number[] = [];
    const span = (10 * 3600 + 50 * 60 + 54) * 1000;
    for (let ms = 0; ms <= span; ms += 10_000) {
      t.push(ms);
      v.push(3600 * MiB + ((ms / 10_000) % 3) * MiB);
    }
    const trend = computeTrend({ t, v, windowMs: 3_600_000, total });
    assert.equal(trend.verdict, 'steady');
    assert.equal(trend.timeToOomMs, null);
    assert.ok(Math.abs(trend.constantForMs - span) < 10_000, `${trend.constantForMs}`);
    assert.equal(trendText(trend), 'steady — not a leak: constant for 10 h 50 m');
  });

  it('gives the slope and the time to OOM of a growing series', () => {
    const t: number[] = [];
    const v: number[] = [];
    // 2000 MiB growing 120 MiB an hour, sampled each minute for 3 hours.
    for (let m = 0; m <= 180; m++) {
      t.push(m * 60_000);
      v.push(2000 * MiB + m * 2 * MiB);
    }
    const trend = computeTrend({ t, v, windowMs: 3_600_000, total });
    assert.equal(trend.verdict, 'growing');
    assert.ok(Math.abs(trend.slope! * 3600 - 120 * MiB) < MiB);
    // (4096 − 2360) MiB at 120 MiB/h = 14.47 h
    assert.ok(Math.abs(trend.timeToOomMs! / 3_600_000 - 1736 / 120) < 0.01, `${trend.timeToOomMs}`);
    assert.match(trendText(trend), /^growing 120 MiB\/h: OOM in about 14 h 28 m at this rate$/);
  });

  it('uses only the window for the slope, and says when there is too little data', () => {
    const t = [0, 1000, 2000, 3000];
    const v = [1000 * MiB, 3000 * MiB, 3000 * MiB, 3000 * MiB];
    assert.equal(computeTrend({ t, v, windowMs: 2000, total, minSpanMs: 0 }).verdict, 'steady');
    assert.equal(computeTrend({ t, v, windowMs: 2000, total }).verdict, 'unknown', 'a few seconds are no trend');
    assert.equal(trendText(computeTrend({ t, v, windowMs: 2000, total })), 'not enough history for a trend yet (2 s)');
    assert.equal(computeTrend({ t: [0], v: [1], windowMs: 1000, total }).verdict, 'unknown');
    assert.equal(trendText(computeTrend({ t: [], v: [], windowMs: 1000, total })), 'not enough data for a trend yet');
  });

  it('formats durations', () => {
    assert.deepEqual([35_000, 252_000, 39_054_000, 3 * 86_400_000 + 7_200_000].map(formatDuration), ['35 s', '4 m 12 s', '10 h 50 m', '3 d 2 h']);
  });
});
