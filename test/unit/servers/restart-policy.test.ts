/** The restart policy of `vram-guard run --restart on-failure`: backoff from 1 s doubling to 5 min, at most N an hour. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartPolicy } from '../../../src/core/servers/restart-policy.ts';

describe('restart policy', () => {
  it('backs off 1 s, 2 s, 4 s … up to 5 min, and starts over after a healthy run', () => {
    const p = new RestartPolicy(100);
    const delays: (number | null)[] = [];
    let t = 0;
    for (let i = 0; i < 11; i++) {
      delays.push(p.next(t, 500));
      t += 60_000;
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000]);
    assert.equal(p.next(t, 11 * 60_000), 1000, 'a run of 11 min was healthy');
  });

  it('allows at most N restarts in any hour', () => {
    const p = new RestartPolicy(3);
    assert.deepEqual(
      [0, 10_000, 20_000, 30_000].map((t) => p.next(t, 100)),
      [1000, 2000, 4000, null],
    );
    assert.equal(p.next(3_600_000, 100), 8000, 'an hour after the first, one is allowed again');
    assert.equal(p.next(3_600_001, 100), null);
  });
});
