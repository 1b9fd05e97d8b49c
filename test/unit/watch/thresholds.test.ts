import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSize, GiB, MiB, formatGiBFigure } from '../../../src/core/units.ts';
import { DEFAULT_THRESHOLDS, parseThresholds, resolveThresholds } from '../../../src/core/watch/thresholds.ts';

describe('sizes', () => {
  it('reads MiB, GiB, decimal MB and percentages', () => {
    assert.deepEqual(parseSize('6144MiB'), { kind: 'bytes', bytes: 6144 * MiB });
    assert.deepEqual(parseSize('6 GiB'), { kind: 'bytes', bytes: 6 * GiB });
    assert.deepEqual(parseSize('6144MB'), { kind: 'bytes', bytes: 6144e6 });
    assert.deepEqual(parseSize('80%'), { kind: 'percent', percent: 80 });
    assert.deepEqual(parseSize('2.5%'), { kind: 'percent', percent: 2.5 });
  });
  it('refuses bare numbers, nonsense and more than 100%', () => {
    assert.match((parseSize('6144') as { error: string }).error, /write it like "6144MiB"/);
    assert.match((parseSize('lots') as { error: string }).error, /not a size/);
    assert.match((parseSize('120%') as { error: string }).error, /more than 100%/);
    assert.match((parseSize(42) as { error: string }).error, /expected a string/);
  });
  it('prints gigabytes with one decimal', () => {
    assert.equal(formatGiBFigure(5418 * MiB), '5.3');
    assert.equal(formatGiBFigure(8 * GiB), '8.0');
  });
});

describe('threshold settings', () => {
  it('accepts the defaults and explicit sizes', () => {
    assert.deepEqual(parseThresholds(undefined, undefined), { spec: DEFAULT_THRESHOLDS, problems: [] });
    const p = parseThresholds({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, '2%');
    assert.deepEqual(p.problems, []);
    assert.deepEqual(p.spec.critical, { kind: 'bytes', bytes: 7168 * MiB });
  });

  it('thresholds that do not increase: one message naming the setting, and the defaults', () => {
    const p = parseThresholds({ warning: '90%', critical: '80%', emergency: '95%' }, '2%');
    assert.equal(p.problems.length, 1);
    assert.match(
      p.problems[0]!,
      /^vramGuard\.thresholds: warning < critical < emergency is required, got warning 90%, critical 80%, emergency 95%\. Using the defaults/,
    );
    assert.deepEqual(p.spec, DEFAULT_THRESHOLDS);
  });

  it('unparsable values and unknown keys are named', () => {
    const p = parseThresholds({ warning: 'eighty', critical: '90%', emergency: '95%', danger: '99%' }, 'two');
    assert.equal(p.problems.length, 2);
    assert.match(p.problems[0]!, /vramGuard\.thresholds: warning: "eighty" is not a size.*unknown key "danger"/);
    assert.match(p.problems[1]!, /vramGuard\.hysteresis: "two" is not a size.*Using the default, 2%/);
    assert.deepEqual(p.spec, DEFAULT_THRESHOLDS);
  });

  it('a threshold above the GPU total falls back to the defaults for that GPU, saying so', () => {
    const p = parseThresholds({ warning: '6GiB', critical: '7GiB', emergency: '12GiB' }, '2%');
    assert.deepEqual(p.problems, []);
    const r = resolveThresholds(p.spec, 8 * GiB);
    assert.match(r.problem ?? '', /emergency 12288 MiB is above this GPU's total of 8192 MiB.*Using the defaults/);
    assert.equal(r.thresholds.warning, Math.round(0.8 * 8 * GiB));
  });

  it('mixed units out of order on a small GPU are caught per GPU', () => {
    const p = parseThresholds({ warning: '3GiB', critical: '70%', emergency: '95%' }, '2%');
    const r = resolveThresholds(p.spec, 4 * GiB);
    assert.match(r.problem ?? '', /out of order: warning 3072 MiB, critical 2867 MiB/);
  });
});
