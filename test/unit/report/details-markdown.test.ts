import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyDevice } from '../../../src/core/gpu/types.ts';
import { detailsMarkdown } from '../../../src/core/report/details-markdown.ts';
import { GiB, MiB } from '../../../src/core/units.ts';

describe('GPU details document', () => {
  it('lists every process, the source, the recent level changes and settings problems', () => {
    const d = emptyDevice(0);
    d.name = 'NVIDIA RTX A1000 Laptop GPU';
    d.memory = { total: 4 * GiB, used: 3830 * MiB, free: 266 * MiB, reserved: null };
    d.processes = Array.from({ length: 7 }, (_, i) => ({
      pid: 100 + i,
      name: `/usr/bin/worker-${i}`,
      usedBytes: (i + 1) * 10 * MiB,
      kind: 'compute' as const,
    }));
    const md = detailsMarkdown({
      status: { state: 'ready', source: { kind: 'nvml', description: 'NVML 12.550.54.14', sample: async () => ({}) as never, dispose: async () => {} } },
      latest: {
        sample: { source: 'nvml', timestamp: Date.UTC(2025, 9, 31, 7, 14, 57), driverVersion: '550.54.14', sourceVersion: null, devices: [d] },
        levels: ['critical'],
        thresholds: [{ warning: 3277 * MiB, critical: 3686 * MiB, emergency: 3891 * MiB, hysteresis: 82 * MiB }],
      },
      transitions: [
        { timestamp: Date.UTC(2025, 9, 31, 7, 14, 57), gpu: 0, uuid: null, from: 'ok', to: 'critical', usedBytes: 3830 * MiB, totalBytes: 4 * GiB },
      ],
      settingsProblems: ['vramGuard.hysteresis: "two" is not a size. Using the default, 2%.'],
    });
    assert.match(md, /^# VRAM Guard — GPU details/);
    assert.match(md, /Source: NVML 12\.550\.54\.14/);
    assert.match(md, /Sampled at 2025-10-31T07:14:57\.000Z · driver 550\.54\.14/);
    assert.match(md, /— CRITICAL/);
    for (let i = 0; i < 7; i++) assert.match(md, new RegExp(`worker-${i} \\(PID ${100 + i}\\)`));
    assert.match(md, /\| 2025-10-31T07:14:57\.000Z \| 0 \| OK \| CRITICAL \| 3830 MiB \|/);
    assert.match(md, /## Settings problems\n\n- vramGuard\.hysteresis/);
  });

  it('without a GPU, says why', () => {
    const md = detailsMarkdown({ status: { state: 'none', reason: 'no NVML: driver not loaded' }, latest: null, transitions: [], settingsProblems: [] });
    assert.match(md, /\*\*No GPU to watch\.\*\*\n\nno NVML: driver not loaded/);
  });
});
