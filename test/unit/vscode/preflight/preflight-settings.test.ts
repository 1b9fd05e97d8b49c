/** The pre-flight's settings and the editor's inputs for the need. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GiB, MiB } from '../../../../src/core/units.ts';
import { parseNeedText, parseServerArgsText, readPreflightSettings } from '../../../../src/vscode/preflight/preflight-settings.ts';

describe('pre-flight settings', () => {
  it('defaults: a 1 GiB margin and a 100 MiB residual threshold', () => {
    assert.deepEqual(
      readPreflightSettings(() => undefined),
      {
        margin: { kind: 'bytes', bytes: GiB },
        residualThreshold: { kind: 'bytes', bytes: 100 * MiB },
        problems: [],
      },
    );
  });

  it('takes sizes and percentages; a bad value names the setting and falls back', () => {
    const values: Record<string, unknown> = { 'preflight.margin': '10%', 'preflight.residualThreshold': 'lots' };
    const s = readPreflightSettings((k) => values[k]);
    assert.deepEqual(s.margin, { kind: 'percent', percent: 10 });
    assert.deepEqual(s.residualThreshold, { kind: 'bytes', bytes: 100 * MiB });
    assert.deepEqual(s.problems, ['vramGuard.preflight.residualThreshold: "lots" is not a size: write it like "6144MiB", "6GiB" or "80%". Using 100MiB.']);
  });
});

describe('pre-flight inputs', () => {
  it('the need is a size', () => {
    assert.deepEqual(parseNeedText('6GiB'), { bytes: 6 * GiB });
    assert.deepEqual(parseNeedText(' 6144 MiB '), { bytes: 6144 * MiB });
    assert.deepEqual(parseNeedText('50%'), { error: 'Write the need as a size, such as 6GiB or 6144MiB, not a percentage.' });
    assert.match((parseNeedText('six') as { error: string }).error, /is not a size/);
    assert.ok('error' in parseNeedText('0MiB'));
  });

  it('the model run: llama-server arguments, split without a shell and checked by the same parser as the gate', () => {
    assert.deepEqual(parseServerArgsText('-c 16384 -np 2 -ctk q8_0 -ctv q8_0'), { args: ['-c', '16384', '-np', '2', '-ctk', 'q8_0', '-ctv', 'q8_0'] });
    assert.deepEqual(parseServerArgsText(''), { args: [] });
    assert.match((parseServerArgsText('-ctk q3') as { error: string }).error, /-ctk must be one of f32, f16/);
    assert.match((parseServerArgsText('-c "8192') as { error: string }).error, /unclosed double quote/);
  });
});
