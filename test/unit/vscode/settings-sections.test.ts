import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAllSettings } from '../../../src/vscode/settings-sections.ts';
import { MiB } from '../../../src/core/units.ts';

const from = (values: Record<string, unknown>) => (key: string) => values[key];

describe('all settings, read in one pass', () => {
  it('uses every default and reports nothing when nothing is set', () => {
    const s = readAllSettings(from({}));
    assert.deepEqual(s.problems, []);
    assert.equal(s.history.retentionMs, 7 * 86_400_000);
    assert.equal(s.history.maxFileBytes, 16 * MiB);
    assert.deepEqual(s.spikeTiming, {});
    assert.equal(s.aec.sourceName, 'Echo Cancellation Source');
    assert.equal(s.fallback.mode, 'confirm');
  });

  it('names a bad value in every section once, instead of clamping or passing it on silently', () => {
    const s = readAllSettings(
      from({
        sampleIntervalMs: 5,
        fallbackMode: 'sometimes',
        'preflight.margin': 'lots',
        'history.retentionDays': 1000,
        'spike.samples': 0,
        'spike.settleSeconds': 3,
        'aec.recordSeconds': 99,
      }),
    );
    const mentions = (setting: string) => s.problems.filter((p) => p.includes(setting)).length;
    for (const setting of [
      'vramGuard.sampleIntervalMs',
      'vramGuard.fallbackMode',
      'vramGuard.preflight.margin',
      'vramGuard.history.retentionDays',
      'vramGuard.spike.',
      'vramGuard.aec.recordSeconds',
    ]) {
      assert.equal(mentions(setting), 1, `${setting} is named once in: ${s.problems.join(' | ')}`);
    }
    assert.equal(s.problems.length, 6);
    assert.equal(s.history.retentionMs, 7 * 86_400_000, 'an out-of-range retention falls back to the default, and says so');
    assert.deepEqual(s.spikeTiming, { settleSeconds: 3 }, 'only the valid spike timing reaches the spike');
    assert.equal(s.aec.recordSeconds, 1);
  });
});
