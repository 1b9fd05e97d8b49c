import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertPolicy } from '../../../src/core/watch/alert-policy.ts';
import type { LevelTransition } from '../../../src/core/watch/classifier.ts';
import type { Level } from '../../../src/core/watch/levels.ts';

const t = (from: Level, to: Level, timestamp: number): LevelTransition => ({ timestamp, gpu: 0, uuid: 'GPU-0', from, to, usedBytes: 0, totalBytes: 1 });

describe('alert policy', () => {
  it('notifies rises to CRITICAL and EMERGENCY, not WARNING by default, never falls', () => {
    const p = new AlertPolicy({ notifyOnWarning: false, minIntervalMs: 60_000 });
    assert.equal(p.shouldNotify(t('ok', 'warning', 0)), false);
    assert.equal(p.shouldNotify(t('warning', 'critical', 1)), true);
    assert.equal(p.shouldNotify(t('critical', 'emergency', 2)), true, 'a further rise always notifies');
    assert.equal(p.shouldNotify(t('emergency', 'ok', 3)), false);
  });

  it('rate-limits the same level per GPU', () => {
    const p = new AlertPolicy({ notifyOnWarning: false, minIntervalMs: 60_000 });
    assert.equal(p.shouldNotify(t('warning', 'critical', 0)), true);
    assert.equal(p.shouldNotify(t('warning', 'critical', 30_000)), false);
    assert.equal(p.shouldNotify(t('warning', 'critical', 60_000)), true);
  });

  it('notifies WARNING when asked', () => {
    const p = new AlertPolicy({ notifyOnWarning: true, minIntervalMs: 0 });
    assert.equal(p.shouldNotify(t('ok', 'warning', 0)), true);
  });
});
