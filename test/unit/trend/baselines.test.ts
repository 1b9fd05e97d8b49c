/**
 * Baseline and delta per server: a settled footprint is the baseline; growth beyond baseline + delta
 * warns once with the process and its rate; a step (a second model) sets a new baseline, never a warning.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerBaselines } from '../../../src/core/trend/baselines.ts';

const T0 = Date.parse('2026-03-02T08:00:00Z');
const server = (usedMiB: number) => [{ pid: 5150, name: 'llama-server', usedMiB }];

/** Feeds one sample every 5 s (the process lists' rate) from `fromS` to `toS` seconds, memory by `at`. */
function feed(b: ServerBaselines, fromS: number, toS: number, at: (s: number) => number) {
  const warnings = [];
  for (let s = fromS; s < toS; s += 5) warnings.push(...b.observe(0, T0 + s * 1000, server(at(s))));
  return warnings;
}

describe('server baselines', () => {
  it('warns once when a settled 6 GiB server grows beyond 10 % at 120 MiB/h, naming it and its rate', () => {
    const b = new ServerBaselines();
    // Loads in 10 s, settles for an hour, then grows 120 MiB/h for 6 hours.
    const at = (s: number) => (s < 10 ? s * 614.4 : s < 3610 ? 6144 : 6144 + ((s - 3610) / 3600) * 120);
    const warnings = feed(b, 0, 7 * 3600, at);
    assert.equal(warnings.length, 1);
    const [w] = warnings;
    assert.equal(w?.pid, 5150);
    assert.equal(w?.baselineMiB, 6144);
    // 10 % of 6144 MiB is 614 MiB: at 120 MiB/h, about 5 h 7 min after it left the baseline.
    const hours = ((w?.since ?? 0) - T0) / 3_600_000;
    assert.ok(hours > 0.9 && hours < 1.4, `left the baseline ${hours.toFixed(2)} h in`);
    assert.ok(Math.abs((w?.rateMiBPerHour ?? 0) - 120) < 15, `rate ${w?.rateMiBPerHour}`);
    assert.match(w?.text ?? '', /^llama-server \(PID 5150\) grew 6\d\d MiB beyond its baseline of 6144 MiB, at 1\d\d MiB\/h$/);
  });

  it('a second model loaded is a step: a new baseline, no warning', () => {
    const b = new ServerBaselines();
    const at = (s: number) => (s < 600 ? 3000 : s < 610 ? 3000 + (s - 600) * 280 : 5800);
    assert.deepEqual(feed(b, 0, 4 * 3600, at), []);
  });

  it('the delta is the larger of the share and the size: a 1 GiB server may grow 256 MiB, not 10 %', () => {
    const b = new ServerBaselines();
    assert.equal(b.deltaOf(1024), 256);
    assert.equal(b.deltaOf(8192), 819.2);
    b.set({ deltaPercent: 5, deltaMiB: 128 });
    assert.equal(b.deltaOf(1024), 128);
    // 200 MiB of growth on a 1 GiB server: beyond 128 MiB, warned.
    const warnings = feed(b, 0, 3 * 3600, (s) => (s < 3600 ? 1024 : 1024 + ((s - 3600) / 3600) * 200));
    assert.equal(warnings.length, 1);
  });

  it('no warning before the server has settled (a slow load is not growth beyond a baseline)', () => {
    const b = new ServerBaselines();
    // Rises the whole time: never level for 5 minutes, so it has no baseline.
    assert.deepEqual(
      feed(b, 0, 2 * 3600, (s) => 1000 + s * 0.5),
      [],
    );
  });
});
