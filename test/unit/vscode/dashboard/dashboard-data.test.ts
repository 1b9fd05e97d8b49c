/** What the host sends the dashboard: small per-sample updates, downsampled ranges, processes, servers, the chain. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FallbackEvent } from '../../../../src/core/fallback/events.ts';
import type { FallbackStep } from '../../../../src/core/servers/fallback-steps.ts';
import type { GpuLedger } from '../../../../src/core/servers/ledger.ts';
import type { GpuDevice } from '../../../../src/core/gpu/types.ts';
import { HistoryStore } from '../../../../src/core/history/store.ts';
import { DEFAULT_THRESHOLDS } from '../../../../src/core/watch/thresholds.ts';
import { chainView, dryRunPlan, gpuInfos, processTables, rangeData, sampleUpdate } from '../../../../src/vscode/dashboard/dashboard-data.ts';
import { ledgerText } from '../../../../src/core/servers/ledger.ts';
import { MiB } from '../../../../src/core/units.ts';

const GiB = 1024 * MiB;

function device(index: number, usedMiB: number, totalGiB = 8): GpuDevice {
  return {
    index,
    name: `GPU ${index}`,
    uuid: null,
    memory: { total: totalGiB * GiB, used: usedMiB * MiB, free: 0, reserved: null },
    utilization: { gpu: 50, memory: 10 },
    temperatureC: 60,
    powerW: 100,
    persistenceMode: true,
    processes: [],
    error: null,
  };
}

describe('dashboard data', () => {
  it('sends one small message per sample, well under 1 KB even for 8 GPUs', () => {
    const devices = Array.from({ length: 8 }, (_, i) => device(i, 5421.3));
    const update = sampleUpdate(
      {
        sample: { source: 'nvml', timestamp: 1_761_894_897_000, driverVersion: null, sourceVersion: null, devices },
        levels: devices.map(() => 'critical'),
        thresholds: devices.map(() => null),
      },
      { ramUsed: 6000 * MiB, ramTotal: 16 * GiB, swapUsed: 1300 * MiB, swapTotal: 8 * GiB },
    );
    assert.deepEqual(update.g[0], [0, 5421.3, 8192, 'critical']);
    assert.deepEqual(update.m, [6000, 1300]);
    assert.ok(JSON.stringify({ type: 'sample', s: update }).length < 1024);
  });

  it('answers a range min/max downsampled, the peak kept, in MiB', () => {
    const store = new HistoryStore({ dir: null });
    for (let i = 0; i < 86_400; i++)
      store.record({
        t: i * 1000,
        gpus: [{ gpu: 0, used: (i === 50_000 ? 3740 : 3600) * MiB, total: 4 * GiB }],
        system: { ramUsed: 789 * MiB, ramTotal: 16 * GiB, swapUsed: 0, swapTotal: 8 * GiB },
      });
    const r = rangeData(store, 0, 86_400_000, 1000);
    assert.ok(r.gpus[0]!.t.length <= 1000);
    assert.equal(Math.max(...r.gpus[0]!.v), 3740);
    assert.equal(r.ramTotalMiB, 16384);
    const infos = gpuInfos(null, store, DEFAULT_THRESHOLDS);
    assert.deepEqual(infos[0]!.thresholds, { warning: 3276.8, critical: 3686.4, emergency: 3891.2 }, 'an imported GPU gets the bands of the settings');
  });

  it('lists processes largest first with their task, and the residual as its own figure', () => {
    const ledger: GpuLedger[] = [
      {
        gpu: 0,
        name: 'GPU',
        total: 8 * GiB,
        used: 4000 * MiB,
        owned: [
          {
            owner: { name: 'llama', kind: 'llama-server', rootPid: 10, baseUrl: null, gpu: 0 },
            processes: [{ pid: 11, name: 'llama-server', usedBytes: 1000 * MiB, kind: 'compute' }],
            nvmlBytes: 1000 * MiB,
            reportedBytes: null,
            report: null,
          },
        ],
        other: [
          { pid: 20, name: 'Xorg', usedBytes: 200 * MiB, kind: 'graphics' },
          { pid: 21, name: 'ollama', usedBytes: 2000 * MiB, kind: 'compute' },
        ],
        residualBytes: 800 * MiB,
        residualHint: 'big residual',
      },
    ];
    const [t] = processTables(ledger);
    assert.deepEqual(
      t!.rows.map((r) => [r.pid, r.owner, r.vramMiB, r.share]),
      [
        [21, null, 2000, 50],
        [11, 'llama', 1000, 25],
        [20, null, 200, 5],
      ],
    );
    assert.equal(t!.residualMiB, 800);
    assert.equal(t!.residualHint, 'big residual');
  });

  it('shows memory reserved by a server that is starting (not in NVML yet) as its own row, named for its task', () => {
    const ledger: GpuLedger[] = [
      {
        gpu: 0,
        name: 'GPU',
        total: 8 * GiB,
        used: 1464 * MiB,
        owned: [],
        other: [{ pid: 20, name: 'Xorg', usedBytes: 1464 * MiB, kind: 'graphics' }],
        residualBytes: 0,
        residualHint: null,
        reserved: [{ id: 'r', gpu: 0, bytes: 4096 * MiB, owner: 'llama (qwen 7B)', holderPid: 30, serverPid: 31, createdAt: 0, expiresAt: 1 }],
      },
    ];
    const [t] = processTables(ledger);
    assert.deepEqual(
      t!.rows.map((r) => [r.pid, r.name, r.owner, r.vramMiB]),
      [
        [31, 'reserved (starting)', 'llama (qwen 7B)', 4096],
        [20, 'Xorg', null, 1464],
      ],
    );
    assert.match(ledgerText(ledger), / {2}4096 MiB {2}reserved for "llama \(qwen 7B\)" \(starting, PID 31; not in NVML yet\)/);
  });

  it('shows the chain: steps in order with trigger and mode, last actions newest first with memory before/after', () => {
    const steps: FallbackStep[] = [
      { action: 'reduceContext', trigger: { kind: 'level', level: 'critical' }, target: null, model: null, command: null, mode: null, label: 'reduceContext' },
      {
        action: 'unloadModel',
        trigger: { kind: 'threshold', threshold: { kind: 'percent', percent: 95 } },
        target: 'ollama',
        model: null,
        command: null,
        mode: 'auto',
        label: 'unloadModel ollama',
      },
    ];
    const event = (step: number, t: number): FallbackEvent => ({
      time: t,
      gpu: 0,
      level: 'critical',
      step,
      label: steps[step]!.label,
      action: steps[step]!.action,
      target: 'ollama',
      mode: 'confirm',
      origin: 'manual',
      result: 'done',
      message: 'unloaded',
      usedBefore: 7498 * MiB,
      usedAfter: 4660 * MiB,
      totalBytes: 8 * GiB,
      durationMs: 500,
    });
    const view = chainView(steps, 'confirm', [event(0, 1), event(1, 2)], false);
    assert.deepEqual(
      view.steps.map((s) => [s.index, s.trigger, s.mode, s.ownMode]),
      [
        [0, 'CRITICAL', 'confirm', false],
        [1, '95%', 'auto', true],
      ],
    );
    assert.deepEqual(
      view.actions.map((a) => [a.t, a.beforeMiB, a.afterMiB]),
      [
        [2, 7498, 4660],
        [1, 7498, 4660],
      ],
    );
  });

  it('sends a dry run plan to the page: each GPU and step in the order of the chain, what would happen, memory in MiB', () => {
    const planned = (gpu: number, step: number, result: 'would-run' | 'would-skip', message: string): FallbackEvent => ({
      time: 5,
      gpu,
      level: gpu === 0 ? 'critical' : 'ok',
      step,
      label: step === 0 ? 'reduceContext' : 'unloadModel ollama',
      action: step === 0 ? 'reduceContext' : 'unloadModel',
      target: 'ollama',
      mode: 'confirm',
      origin: 'dry-run',
      result,
      message,
      usedBefore: (gpu === 0 ? 7498 : 1200) * MiB,
      usedAfter: null,
      totalBytes: 8 * GiB,
      durationMs: 0,
    });
    const plan = dryRunPlan(
      [planned(0, 0, 'would-run', 'would ask, then reduce the context'), planned(1, 1, 'would-skip', 'would do nothing: no Ollama')],
      1_761_894_897_000,
    );
    assert.equal(plan.t, 1_761_894_897_000);
    assert.deepEqual(
      plan.steps.map((s) => [s.gpu, s.level, s.step, s.label, s.mode, s.result, s.message, s.usedMiB, s.totalMiB]),
      [
        [0, 'critical', 0, 'reduceContext', 'confirm', 'would-run', 'would ask, then reduce the context', 7498, 8192],
        [1, 'ok', 1, 'unloadModel ollama', 'confirm', 'would-skip', 'would do nothing: no Ollama', 1200, 8192],
      ],
    );
    assert.deepEqual(dryRunPlan([], 7).steps, []);
  });
});
