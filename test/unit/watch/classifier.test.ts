/** Levels and hysteresis with the field's own numbers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextLevel, rawLevel } from '../../../src/core/watch/classifier.ts';
import type { Level } from '../../../src/core/watch/levels.ts';
import { parseThresholds, resolveThresholds } from '../../../src/core/watch/thresholds.ts';
import { GiB, MiB } from '../../../src/core/units.ts';

const resolved = (t: Record<string, string>, total: number, hysteresis = '2%') => {
  const parsed = parseThresholds(t, hysteresis);
  assert.deepEqual(parsed.problems, []);
  const r = resolveThresholds(parsed.spec, total);
  assert.equal(r.problem, null);
  return r.thresholds;
};

describe('classifier', () => {
  it('8 GiB card with 6144 / 7168 / 7782 MiB: the budget measurement stays OK, then each level is entered at its threshold', () => {
    const t = resolved({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, 8 * GiB);
    assert.equal(rawLevel(1464 * MiB, t), 'ok');
    assert.equal(rawLevel(5421 * MiB, t), 'ok', 'the concurrent peak of 5421 MiB is below WARNING');
    assert.equal(rawLevel(6143 * MiB, t), 'ok');
    assert.equal(rawLevel(6144 * MiB, t), 'warning');
    assert.equal(rawLevel(7168 * MiB, t), 'critical');
    assert.equal(rawLevel(7781 * MiB, t), 'critical');
    assert.equal(rawLevel(7782 * MiB, t), 'emergency');
  });

  it('4 GiB card at 80 / 90 / 95 %', () => {
    const t = resolved({ warning: '80%', critical: '90%', emergency: '95%' }, 4 * GiB);
    assert.equal(t.warning, Math.round(0.8 * 4 * GiB));
    assert.equal(rawLevel(3.6 * GiB * 0.85, t), 'ok');
    assert.equal(rawLevel(t.warning - 1, t), 'ok');
    assert.equal(rawLevel(t.warning, t), 'warning');
    assert.equal(rawLevel(t.critical, t), 'critical');
    assert.equal(rawLevel(t.emergency, t), 'emergency');
    assert.equal(rawLevel(4 * GiB, t), 'emergency');
  });

  it('3.74 GB used of 4.09 GB (91%) is CRITICAL at 80 / 90 / 95 %', () => {
    const total = 4.09 * GiB;
    const t = resolved({ warning: '80%', critical: '90%', emergency: '95%' }, total);
    assert.equal(rawLevel(3.74 * GiB, t), 'critical');
  });

  it('hysteresis: a level is left only when usage falls the hysteresis below its threshold', () => {
    const t = resolved({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, 8 * GiB, '128MiB');
    let level: Level = 'ok';
    const seen: Level[] = [];
    for (const used of [7200, 7100, 7041, 7040, 6100, 6017, 6016, 7782, 7700, 7655, 7654]) {
      level = nextLevel(level, used * MiB, t);
      seen.push(level);
    }
    assert.deepEqual(seen, [
      'critical', // 7200 ≥ 7168
      'critical', // 7100: below 7168 but above 7168 − 128
      'critical', // 7041 > 7040
      'warning', // 7040 = 7168 − 128: left
      'warning', // 6100: below 6144, inside the band
      'warning', // 6017 > 6016
      'ok', // 6016: left
      'emergency',
      'emergency', // 7700 > 7782 − 128 = 7654
      'emergency', // 7655 > 7654
      'critical', // 7654: left EMERGENCY, still above CRITICAL
    ]);
  });

  it('falls through several levels at once when usage drops far', () => {
    const t = resolved({ warning: '80%', critical: '90%', emergency: '95%' }, 8 * GiB);
    assert.equal(nextLevel('emergency', 1 * GiB, t), 'ok');
    assert.equal(nextLevel('emergency', 0.89 * 8 * GiB, t), 'critical', "inside CRITICAL's band after leaving EMERGENCY");
  });
});
