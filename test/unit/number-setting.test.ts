/** Every number setting, one rule: absent is the default; out of range or not a number is named, with the default used. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { numberSetting } from '../../src/core/number-setting.ts';
import { readFallbackSettings } from '../../src/core/fallback/config.ts';
import { readFleetSettings } from '../../src/core/fleet/fleet-settings.ts';

const from = (values: Record<string, unknown>) => (key: string) => values[key];

describe('number settings', () => {
  it('takes a value in range, and the default when the setting is absent or null', () => {
    const problems: string[] = [];
    const range = { fallback: 7, min: 0.01, max: 366 };
    assert.equal(numberSetting(from({ 'history.retentionDays': 0.5 }), 'history.retentionDays', range, problems), 0.5);
    assert.equal(numberSetting(from({ 'history.retentionDays': 366 }), 'history.retentionDays', range, problems), 366);
    assert.equal(numberSetting(from({}), 'history.retentionDays', range, problems), 7);
    assert.equal(numberSetting(from({ 'history.retentionDays': null }), 'history.retentionDays', range, problems), 7);
    assert.deepEqual(problems, []);
  });

  it('names a value out of range or a string in one sentence, and uses the default', () => {
    const problems: string[] = [];
    const range = { fallback: 30, min: 5, max: 3600, unit: 'seconds' };
    for (const v of [4, 3601, '60']) assert.equal(numberSetting(from({ 'fleet.refreshSeconds': v }), 'fleet.refreshSeconds', range, problems), 30);
    assert.deepEqual(problems, [
      'vramGuard.fleet.refreshSeconds must be a number of seconds from 5 to 3600, got 4. Using 30.',
      'vramGuard.fleet.refreshSeconds must be a number of seconds from 5 to 3600, got 3601. Using 30.',
      'vramGuard.fleet.refreshSeconds must be a number of seconds from 5 to 3600, got "60". Using 30.',
    ]);
  });

  it('the fleet and the fallback chain say it the same way', () => {
    const fleet = readFleetSettings(from({ 'fleet.refreshSeconds': 1 }));
    assert.equal(fleet.refreshMs, 30_000);
    assert.deepEqual(fleet.problems, ['vramGuard.fleet.refreshSeconds must be a number of seconds from 5 to 3600, got 1. Using 30.']);
    const chain = readFallbackSettings(from({ 'fallback.settleTimeoutSeconds': -1 }));
    assert.match(chain.problems.join('\n'), /^vramGuard\.fallback\.settleTimeoutSeconds must be a number of seconds from 0 to 600, got -1\. Using \d+\.$/m);
  });
});
