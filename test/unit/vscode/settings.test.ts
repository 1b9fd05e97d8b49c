import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readSettings } from '../../../src/vscode/settings.ts';
import { DEFAULT_THRESHOLDS } from '../../../src/core/watch/thresholds.ts';
import { GiB, MiB } from '../../../src/core/units.ts';

const from = (values: Record<string, unknown>) => (key: string) => values[key];

describe('settings', () => {
  it('defaults when nothing is set', () => {
    const s = readSettings(from({}));
    assert.deepEqual(s.problems, []);
    assert.equal(s.source, 'auto');
    assert.equal(s.sampleIntervalMs, 1000);
    assert.equal(s.processListIntervalSeconds, 5);
    assert.deepEqual(s.thresholds, DEFAULT_THRESHOLDS);
    assert.equal(s.statusBarGpu, 'worst');
    assert.equal(s.nvidiaSmiPath, 'nvidia-smi');
  });

  it('reads the process-list interval, and refuses one outside 1–3600 s with its default', () => {
    assert.equal(readSettings(from({ processListIntervalSeconds: 30 })).processListIntervalSeconds, 30);
    const bad = readSettings(from({ processListIntervalSeconds: 0 }));
    assert.equal(bad.processListIntervalSeconds, 5);
    assert.deepEqual(bad.problems, ['vramGuard.processListIntervalSeconds must be a number from 1 to 3600, got 0. Using 5.']);
  });

  it('reads the baseline delta of server growth (default 10 % or 256 MiB), and refuses values out of range with their defaults', () => {
    const d = readSettings(from({}));
    assert.deepEqual([d.leakDeltaPercent, d.leakDeltaMiB], [10, 256]);
    const s = readSettings(from({ 'leak.deltaPercent': 5, 'leak.deltaMiB': 512 }));
    assert.deepEqual([s.leakDeltaPercent, s.leakDeltaMiB], [5, 512]);
    const bad = readSettings(from({ 'leak.deltaPercent': 0, 'leak.deltaMiB': '1GiB' }));
    assert.deepEqual([bad.leakDeltaPercent, bad.leakDeltaMiB], [10, 256]);
    assert.deepEqual(bad.problems, [
      'vramGuard.leak.deltaPercent must be a number from 1 to 1000, got 0. Using 10.',
      `vramGuard.leak.deltaMiB must be a number from 16 to ${(1024 * GiB) / MiB}, got "1GiB". Using 256.`,
    ]);
  });

  it('reads valid values', () => {
    const s = readSettings(
      from({
        source: 'nvidia-smi',
        nvmlLibraryPath: ' /opt/nvml/libnvidia-ml.so.1 ',
        sampleIntervalMs: 500,
        thresholds: { warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' },
        hysteresis: '64MiB',
        'statusBar.gpu': 1,
        adaptiveRate: { enabled: false, margin: '256MiB' },
      }),
    );
    assert.deepEqual(s.problems, []);
    assert.equal(s.nvmlLibraryPath, '/opt/nvml/libnvidia-ml.so.1');
    assert.deepEqual(s.thresholds.hysteresis, { kind: 'bytes', bytes: 64 * MiB });
    assert.equal(s.statusBarGpu, 1);
    assert.equal(s.adaptiveRate.enabled, false);
    assert.deepEqual(s.adaptiveRate.margin, { kind: 'bytes', bytes: 256 * MiB });
  });

  it('names every invalid setting once and uses its default', () => {
    const s = readSettings(
      from({
        source: 'cuda',
        sampleIntervalMs: 5,
        thresholds: { warning: '95%', critical: '90%', emergency: '80%' },
        'statusBar.gpu': 'best',
        'statusBar.hideWhenNoGpu': 'yes',
        adaptiveRate: { fastIntervalMs: -1 },
      }),
    );
    assert.equal(s.problems.length, 6, s.problems.join('\n'));
    assert.equal(s.source, 'auto');
    assert.equal(s.sampleIntervalMs, 1000);
    assert.deepEqual(s.thresholds, DEFAULT_THRESHOLDS);
    assert.equal(s.statusBarGpu, 'worst');
    assert.equal(s.hideWhenNoGpu, false);
    for (const name of [
      'vramGuard.source',
      'vramGuard.sampleIntervalMs',
      'vramGuard.thresholds',
      'vramGuard.statusBar.gpu',
      'vramGuard.statusBar.hideWhenNoGpu',
      'vramGuard.adaptiveRate',
    ]) {
      assert.ok(
        s.problems.some((p) => p.startsWith(name)),
        `a message names ${name}`,
      );
    }
  });
});
