/** What a pre-flight result offers, and the fallback chain run until the need fits. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckStatus } from '../../../../src/core/check-result.ts';
import type { PreflightReport, PreflightVerdict } from '../../../../src/core/checks/preflight.ts';
import type { FallbackEvent } from '../../../../src/core/fallback/events.ts';
import type { LevelReading } from '../../../../src/core/fallback/triggers.ts';
import { GiB, MiB } from '../../../../src/core/units.ts';
import { freeTarget, memoryIsShort, offeredActions, runChainForNeed, type PreflightChain } from '../../../../src/vscode/preflight/preflight-actions.ts';

function report(verdict: PreflightVerdict, free: CheckStatus | null, over: Partial<PreflightReport> = {}): PreflightReport {
  return {
    verdict,
    source: null,
    driverVersion: null,
    gpu: { index: 0, name: 'GPU', uuid: null, totalBytes: 8 * GiB, usedBytes: 6 * GiB, freeBytes: 2 * GiB },
    needBytes: 3 * GiB,
    needFrom: 'size',
    model: null,
    reservedBytes: 0,
    reservations: [],
    marginBytes: 1 * GiB,
    projectedLevel: null,
    checks: free ? [{ id: 'preflight.free', title: 'Free VRAM for the need', status: free, detail: '', advice: '' }] : [],
    ...over,
  };
}

const hooks = { startAnyway: async () => {}, runFallbackChain: async () => {} };

function event(step: number, result: FallbackEvent['result'], gpu = 0, usedAfter: number | null = null): FallbackEvent {
  return {
    time: 0,
    gpu,
    level: 'critical',
    step,
    label: `step ${step}`,
    action: 'stopServer',
    target: null,
    mode: 'confirm',
    origin: 'manual',
    result,
    message: '',
    usedBefore: 0,
    usedAfter,
    totalBytes: 8 * GiB,
    durationMs: 0,
  };
}

const reading: LevelReading = { gpu: 0, used: 6 * GiB, total: 8 * GiB, level: 'warning', thresholds: null };

describe('pre-flight actions', () => {
  it('offers "Run fallback chain" only when the check failed or warned on free memory', () => {
    assert.deepEqual(offeredActions(report('fail', 'fail'), hooks), ['Start anyway', 'Run fallback chain']);
    assert.deepEqual(offeredActions(report('warn', 'warn'), hooks), ['Start anyway', 'Run fallback chain']);
    assert.deepEqual(offeredActions(report('warn', 'pass'), hooks), ['Start anyway'], 'a warning about persistence mode is no reason to free memory');
    assert.deepEqual(offeredActions(report('pass', 'pass'), hooks), []);
    assert.equal(memoryIsShort(report('fail', 'pass')), true, 'a failed level check is short of memory too');
  });

  it('offers nothing without a hook', () => {
    assert.deepEqual(offeredActions(report('fail', 'fail'), undefined), []);
    assert.deepEqual(offeredActions(report('fail', 'fail'), { runFallbackChain: hooks.runFallbackChain }), ['Run fallback chain']);
  });

  it('wants the need plus the margin free on the GPU checked', () => {
    assert.deepEqual(freeTarget(report('fail', 'fail')), { gpu: 0, requiredFreeBytes: 4 * GiB, freeBytes: 2 * GiB, usedBytes: 6 * GiB });
    assert.equal(freeTarget(report('fail', 'fail', { needBytes: null })), null);
    assert.equal(freeTarget(report('fail', 'fail', { gpu: null })), null);
  });

  it('runs the steps that have something to do, in order, until the need fits', async () => {
    const ran: Array<[number, number]> = [];
    const after = [5 * GiB, 3500 * MiB, 3 * GiB];
    const chain: PreflightChain = {
      dryRun: async () => [],
      runStep: async (index, r) => {
        ran.push([index, r.used]);
        return event(index, 'done', 0, after[ran.length - 1]!);
      },
    };
    // Step 1 has nothing to do; step 4 is on another GPU.
    const plan = [event(2, 'would-run'), event(0, 'would-run'), event(1, 'would-skip'), event(3, 'would-run'), event(4, 'would-run', 1), event(5, 'would-run')];
    const r = await runChainForNeed(chain, plan, reading, { requiredFreeBytes: 4 * GiB, freeBytes: 2 * GiB });
    // 6 GiB used, 2 GiB free: after step 0, 5 GiB used (3 GiB free); after step 2, 3500 MiB used (4692 MiB free): enough.
    assert.deepEqual(ran, [
      [0, 6 * GiB],
      [2, 5 * GiB],
    ]);
    assert.equal(r.enough, true);
    assert.equal(r.freeBytes, 4692 * MiB);
    assert.deepEqual(
      r.events.map((e) => e.step),
      [0, 2],
    );
  });

  it('says so when every step ran and the need still does not fit', async () => {
    const chain: PreflightChain = { dryRun: async () => [], runStep: async (index) => (index === 0 ? null : event(index, 'failed')) };
    const r = await runChainForNeed(chain, [event(0, 'would-run'), event(1, 'would-run')], reading, { requiredFreeBytes: 4 * GiB, freeBytes: 2 * GiB });
    assert.equal(r.enough, false);
    assert.equal(r.freeBytes, 2 * GiB);
    assert.deepEqual(
      r.events.map((e) => [e.step, e.result]),
      [[1, 'failed']],
    );
  });

  it('runs nothing when the need already fits', async () => {
    const chain: PreflightChain = { dryRun: async () => [], runStep: async () => assert.fail('no step should run') };
    const r = await runChainForNeed(chain, [event(0, 'would-run')], reading, { requiredFreeBytes: 1 * GiB, freeBytes: 2 * GiB });
    assert.equal(r.enough, true);
    assert.deepEqual(r.events, []);
  });
});
