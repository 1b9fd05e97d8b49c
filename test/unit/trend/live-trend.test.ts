/**
 * The trend of a watched GPU as the extension judges it: the live history store's points with the
 * watcher's process lists, the dashboard's verdict and markers, and the leak notification — once per
 * leak, never for a step or a burst.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GpuProcess } from '../../../src/core/gpu/types.ts';
import { HistoryStore } from '../../../src/core/history/store.ts';
import { analyzeSeries } from '../../../src/core/trend/analysis.ts';
import { LeakAlerts } from '../../../src/core/trend/leak-alerts.ts';
import { LiveTrend } from '../../../src/core/trend/live-trend.ts';
import { utcClock } from '../../../src/core/trend/verdict.ts';
import { gpuTrends, judgeGpu, serverLabels } from '../../../src/core/trend/trend-watch.ts';
import { burstTrace, leakTrace, stepTrace, type LabelledTrace } from '../../helpers/trend-corpus.ts';
import { MiB } from '../../../src/core/units.ts';

/** A live store and trend fed the trace as the watcher would: a sample a second, the processes as listed. */
function watch(c: LabelledTrace, every = 1): { store: HistoryStore; live: LiveTrend } {
  const end = c.t.at(-1) as number;
  const store = new HistoryStore({
    dir: null,
    clock: { now: () => end, setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
  });
  const live = new LiveTrend({ clock: utcClock });
  for (let i = 0; i < c.t.length; i += every) {
    const t = c.t[i] as number;
    store.record({ t, gpus: [{ gpu: 0, used: Math.round((c.usedMiB[i] as number) * MiB), total: c.totalMiB * MiB }], system: null });
    const processes: GpuProcess[] = (c.processes[i] ?? []).map((p) => ({
      pid: p.pid,
      name: p.name,
      usedBytes: p.usedMiB === null ? null : p.usedMiB * MiB,
      kind: 'compute',
    }));
    live.onProcesses(0, t, processes);
  }
  return { store, live };
}

describe('live trend', () => {
  it('judges the live history with the process lists: the leak names llama-server and its PID; the chart gets the load step and the leak start', () => {
    const c = leakTrace(500);
    const { store, live } = watch(c);
    const a = judgeGpu(live, store, 0);
    assert.equal(a?.verdict.kind, 'leak');
    assert.match(a?.verdict.text ?? '', /^leaking 5\d\d MiB\/h since (07:5\d|08:0\d) in llama-server \(PID 5150\) → full in about 3\d h \d+ min$/);
    const [trend] = gpuTrends(live, store);
    assert.equal(trend?.kind, 'leak');
    assert.deepEqual(
      trend?.markers.map((m) => m.kind),
      ['step', 'leak'],
    );
    assert.match(trend?.markers[0]?.text ?? '', /^\+61\d\d MiB: llama-server loaded$/);
    assert.match(trend?.markers[1]?.text ?? '', /^leak starts: 5\d\d MiB\/h in llama-server \(PID 5150\)$/);
    assert.ok(trend && trend.leakMiBPerHour !== null && Math.abs(trend.leakMiBPerHour - 500) < 50);
  });

  it('keeps a process list only when it changed, and a bounded number of them', () => {
    const live = new LiveTrend({ maxSnapshots: 3 });
    const p = (used: number): GpuProcess[] => [{ pid: 7, name: 'srv', usedBytes: used * MiB, kind: 'compute' }];
    for (let i = 0; i < 100; i++) live.onProcesses(0, i * 1000, p(1000));
    for (let i = 0; i < 10; i++) live.onProcesses(0, 200_000 + i * 1000, p(2000 + i * 100));
    const t = [0, 100_000, 205_000, 209_500];
    const a = live.judge(0, t, [1000, 1000, 2500, 2900], 8192);
    // The oldest lists were dropped: the first points have none; the last has the newest list.
    assert.equal(a?.changePoints.segments.at(-1)?.processes[0]?.usedMiB, 2900);
  });
});

describe('leak alerts', () => {
  const judge = (c: LabelledTrace, gpu = 0) => analyzeSeries(gpu, c.t, c.usedMiB, c.totalMiB, {}, c.processes);

  it('tells of a leak once, with the verdict, and not again while it is the same leak', () => {
    const alerts = new LeakAlerts();
    const leak = judge(leakTrace(100));
    const told = alerts.check([leak]);
    assert.equal(told.length, 1);
    assert.equal(told[0]?.gpu, 0);
    assert.match(told[0]?.text ?? '', /^leaking 1\d\d MiB\/h since /);
    assert.deepEqual(alerts.check([leak]), []);
    // The same leak judged a few minutes later still starts about when it did.
    assert.deepEqual(alerts.check([judge(leakTrace(100, 2))]), []);
  });

  it('never tells of a step or a burst', () => {
    const alerts = new LeakAlerts();
    assert.deepEqual(alerts.check([judge(stepTrace()), judge(burstTrace(), 1), null]), []);
  });

  it('tells of a new leak on the same GPU (one that starts hours after the one told)', () => {
    const alerts = new LeakAlerts();
    assert.equal(alerts.check([judge(leakTrace(100, 1, 1))]).length, 1);
    assert.equal(alerts.check([judge(leakTrace(100, 1, 3, 5))]).length, 1);
  });
});

describe('server labels', () => {
  it('names a server\'s GPU processes by the server and the models it reports, so a step reads "ollama (llama3.2:3b) loaded"', () => {
    const ledger = [
      {
        gpu: 0,
        name: 'RTX 3070',
        total: 8192 * MiB,
        used: 4000 * MiB,
        owned: [
          {
            owner: { name: 'ollama', kind: 'ollama', rootPid: 10, baseUrl: null, gpu: 0 },
            processes: [{ pid: 11, name: '/usr/local/bin/ollama', usedBytes: 2838 * MiB, kind: 'compute' as const }],
            nvmlBytes: 2838 * MiB,
            reportedBytes: 2838 * MiB,
            report: {
              kind: 'ollama',
              reachable: true,
              healthy: true,
              models: [{ name: 'llama3.2:3b', vramBytes: 2838 * MiB, contextLength: 4096 }],
              contextLength: 4096,
              sleeping: null,
              error: null,
            },
          },
        ],
        other: [],
        residualBytes: 0,
        residualHint: null,
      },
    ];
    const labels = serverLabels(ledger as never);
    assert.equal(labels.get(11), 'ollama (llama3.2:3b)');
    const live = new LiveTrend({ clock: utcClock });
    const t0 = Date.parse('2026-03-02T10:00:00Z');
    const t: number[] = [];
    const used: number[] = [];
    for (let s = 0; s < 1800; s++) {
      const loaded = s >= 840;
      live.onProcesses(
        0,
        t0 + s * 1000,
        loaded ? [{ pid: 11, name: '/usr/local/bin/ollama', usedBytes: 2838 * MiB, kind: 'compute' }] : [],
        (p) => labels.get(p.pid) ?? null,
      );
      t.push(t0 + s * 1000);
      used.push(loaded ? 4000 : 1162);
    }
    assert.equal(live.judge(0, t, used, 8192)?.verdict.text, '+2838 MiB at 10:14: ollama (llama3.2:3b) loaded');
  });
});
