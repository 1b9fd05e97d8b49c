/** The page's logic without a browser: state from messages, ranges and zoom, bands, markers, trend, tables, cards. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeSeries } from '../../../src/core/trend/analysis.ts';
import { gpuTrend } from '../../../src/core/trend/trend-view.ts';
import type { GpuTrend, Snapshot } from '../../../src/protocol.ts';
import { chartTextAlternative, markersInView, placeLabels, thresholdBands, trendView, yRange } from '../../../webview/chart-model.ts';
import { formatSizeFromMiB } from '../../../webview/format.ts';
import { autoEnabled, chainActions, dryRunView, processRows, serverCardView } from '../../../webview/panels-model.ts';
import { cardVerdict } from '../../../webview/card-verdict.ts';
import {
  allMarkers,
  applyMarker,
  applyRange,
  applySample,
  fromSnapshot,
  needsRefresh,
  selectRange,
  shortWindowLabel,
  zoomTo,
} from '../../../webview/view-model.ts';

const NOW = Date.parse('2025-10-31T07:20:00Z');

function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    mode: { kind: 'live' },
    source: 'NVML',
    now: NOW,
    bounds: { first: NOW - 7_200_000, last: NOW },
    gpus: [{ gpu: 0, name: 'RTX A1000', totalMiB: 4096, thresholds: { warning: 3276.8, critical: 3686.4, emergency: 3891.2 }, level: 'warning' }],
    range: '1h',
    data: {
      from: NOW - 3_600_000,
      to: NOW,
      gpus: [{ gpu: 0, t: [NOW - 2000, NOW - 1000, NOW], v: [3600, 3601, 3602] }],
      ram: { t: [NOW], v: [789] },
      swap: { t: [NOW], v: [0] },
      ramTotalMiB: 16384,
      swapTotalMiB: 8192,
    },
    markers: [],
    processes: [],
    servers: [],
    chain: { mode: 'confirm', busy: false, steps: [], actions: [] },
    ...over,
  };
}

/** A snapshot whose GPU 0 the host judged: Ollama loads 2838 MiB, then a leak of 300 MiB/h starts 30 minutes later. */
function snapshotWithTrend(): Snapshot {
  const t: number[] = [];
  const v: number[] = [];
  const procs = [];
  for (let s = 0; s <= 7200; s += 2) {
    const ollama = s < 600 ? 0 : 2838 + (s > 2400 ? ((s - 2400) / 3600) * 300 : 0);
    t.push(NOW - 7_200_000 + s * 1000);
    v.push(1200 + ollama);
    procs.push(ollama ? [{ pid: 4242, name: 'ollama (llama3.2:3b)', usedMiB: ollama }] : []);
  }
  const a = analyzeSeries(0, t, v, 8192, {}, procs);
  assert.ok(a);
  return snapshot({ trends: [gpuTrend(a)] });
}

describe('dashboard view model', () => {
  it('starts from the snapshot, then appends each sample and follows it', () => {
    const s = fromSnapshot(snapshot());
    assert.deepEqual(s.window, { from: NOW - 3_600_000, to: NOW });
    applySample(s, { t: NOW + 1000, g: [[0, 3740, 4096, 'critical']], m: [6000, 1300] });
    assert.deepEqual(s.series.get(0)!.v, [3600, 3601, 3602, 3740]);
    assert.equal(s.gpus[0]!.level, 'critical');
    assert.deepEqual(s.window, { from: NOW + 1000 - 3_600_000, to: NOW + 1000 });
    assert.deepEqual(s.swap.v, [0, 1300]);
    applySample(s, { t: NOW, g: [[0, 1, 4096, 'ok']], m: null });
    assert.deepEqual(s.series.get(0)!.v, [3600, 3601, 1], 'the clock stepped back: the points from its time on are dropped, the new one shown');
    assert.deepEqual(s.window, { from: NOW - 3_600_000, to: NOW });
    applySample(s, { t: NOW + 2000, g: [[1, 100, 8192, 'ok']], m: null });
    assert.deepEqual(
      s.gpus.map((g) => g.gpu),
      [0, 1],
      'a new GPU appears',
    );
  });

  it('stops following while zoomed, and follows again when a range is picked', () => {
    const s = fromSnapshot(snapshot());
    zoomTo(s, NOW - 600_000, NOW - 300_000);
    applySample(s, { t: NOW + 1000, g: [[0, 3600, 4096, 'warning']], m: null });
    assert.deepEqual(s.window, { from: NOW - 600_000, to: NOW - 300_000 });
    selectRange(s, '5m');
    assert.deepEqual(s.window, { from: NOW + 1000 - 300_000, to: NOW + 1000 });
    selectRange(s, 'all');
    assert.equal(s.window.from, NOW - 7_200_000);
  });

  it('ignores live updates while showing an imported log, and replaces data with a range reply', () => {
    const s = fromSnapshot(snapshot({ mode: { kind: 'imported', title: 'gpu.csv', format: 'nvidia-smi' } }));
    applySample(s, { t: NOW + 1000, g: [[0, 1, 4096, 'ok']], m: null });
    applyMarker(s, { t: NOW, kind: 'transition', gpu: 0, text: 'x', level: 'ok', beforeMiB: null, afterMiB: null });
    assert.equal(s.series.get(0)!.v.length, 3);
    assert.equal(s.markers.length, 0);
    applyRange(s, { from: 0, to: 1, gpus: [{ gpu: 0, t: [1], v: [2] }], ram: { t: [], v: [] }, swap: { t: [], v: [] }, ramTotalMiB: null, swapTotalMiB: null });
    assert.deepEqual(s.series.get(0), { t: [1], v: [2] });
    assert.equal(s.ramTotalMiB, 16384, 'totals stay when a reply has none');
    assert.equal(needsRefresh(s, 1), false);
  });

  it('draws the thresholds as three bands up to the total, and the y axis from 0 to the total', () => {
    const gpu = snapshot().gpus[0]!;
    assert.deepEqual(
      thresholdBands(gpu).map((b) => [b.level, b.from, b.to]),
      [
        ['warning', 3276.8, 3686.4],
        ['critical', 3686.4, 3891.2],
        ['emergency', 3891.2, 4096],
      ],
    );
    assert.deepEqual(thresholdBands({ ...gpu, thresholds: null }), []);
    assert.deepEqual(yRange(gpu, { t: [1], v: [100] }), [0, 4096]);
  });

  it('puts the markers of this GPU (and of every GPU) in view, with their details', () => {
    const markers = [
      {
        t: NOW - 10_000,
        kind: 'transition' as const,
        gpu: 0,
        text: 'GPU 0: WARNING → CRITICAL at 3740 MiB of 4096 MiB',
        level: 'critical' as const,
        beforeMiB: 3740,
        afterMiB: null,
      },
      { t: NOW - 5000, kind: 'fallback' as const, gpu: 0, text: 'unload llama3.2:3b', level: 'critical' as const, beforeMiB: 7498, afterMiB: 4660 },
      { t: NOW - 4000, kind: 'note' as const, gpu: null, text: 'Speech detected', level: null, beforeMiB: null, afterMiB: null },
      { t: NOW - 3000, kind: 'task' as const, gpu: 1, text: 'other GPU', level: null, beforeMiB: null, afterMiB: null },
      { t: NOW - 9_000_000, kind: 'task' as const, gpu: 0, text: 'too old', level: null, beforeMiB: null, afterMiB: null },
    ];
    const view = markersInView(markers, 0, NOW - 3_600_000, NOW, NOW);
    assert.deepEqual(
      view.map((m) => m.label),
      ['CRITICAL', 'fallback', 'event'],
    );
    assert.match(view[1]!.detail, /unload llama3\.2:3b · 7\.32 GiB → 4\.55 GiB$/);
    assert.match(view[0]!.detail, /^07:19:50|^\d\d:\d\d:\d\d/);
  });

  it('places marker labels so they do not cover each other', () => {
    const places = placeLabels(
      [
        { x: 100, kind: 'transition' },
        { x: 130, kind: 'transition' },
        { x: 140, kind: 'fallback' },
        { x: 400, kind: 'transition' },
        { x: 990, kind: 'task' },
      ],
      1000,
    );
    assert.deepEqual(
      places.map((p) => [p.row, p.flip]),
      [
        [0, false],
        [1, false],
        [2, false],
        [0, false],
        [2, true],
      ],
    );
  });

  it("gives the trend box: the series judged on its own, or the host's verdict with the leak's rate and time to full", () => {
    const t: number[] = [];
    const v: number[] = [];
    for (let i = 0; i <= 3600; i += 10) {
      t.push(i * 1000);
      v.push(3600);
    }
    const own = trendView({ t, v }, 4096);
    assert.equal(own.text, 'steady for 1 h — not a leak');
    assert.equal(own.leakRate, 'none');
    const end = t.at(-1) as number;
    const judged: GpuTrend = {
      gpu: 0,
      kind: 'leak',
      text: 'leaking 120 MiB/h since 09:00 in llama-server (PID 5150) → full at about 14:30',
      leakMiBPerHour: 120,
      oomAt: end + 3.5 * 3_600_000,
      markers: [],
    };
    const g = trendView({ t, v }, 4096, judged);
    assert.equal(g.verdict, 'leak');
    assert.equal(g.text, judged.text);
    assert.equal(g.leakRate, '+120 MiB/h');
    assert.equal(g.timeToOom, 'about 3 h 30 m');
  });

  it("draws the trend's steps and leak start among the markers, with their words on hover", () => {
    const s = fromSnapshot(snapshotWithTrend());
    const views = markersInView(allMarkers(s), 0, 0, Number.MAX_SAFE_INTEGER, 0);
    assert.deepEqual(
      views.map((m) => [m.kind, m.label]),
      [
        ['step', 'step'],
        ['leak', 'leak'],
      ],
    );
    assert.match(views[0]?.detail ?? '', /\+2838 MiB: ollama \(llama3\.2:3b\) loaded · 1\.17 GiB → 3\.94 GiB$/);
  });

  it('lists processes with the residual as its own row, server cards and the chain', () => {
    const rows = processRows({
      gpu: 0,
      usedMiB: 4000,
      rows: [{ pid: 4242, name: 'ollama', owner: 'ollama', vramMiB: 2838, share: 71 }],
      residualMiB: 300,
      residualHint: null,
    });
    assert.deepEqual(
      rows.map((r) => [r.pid, r.owner, r.vram, r.share, r.residual]),
      [
        ['4242', 'ollama', '2838 MiB', '71%', false],
        ['—', '—', '300 MiB', '7.5%', true],
      ],
    );
    const card = serverCardView({
      name: 'ollama',
      kind: 'ollama',
      state: 'ready',
      pid: 15663,
      gpu: 0,
      health: 'healthy',
      models: [{ name: 'llama3.2:3b', vramMiB: 2648, context: 4096 }],
      context: null,
      sleeping: null,
      nvmlMiB: 2910,
      reportedMiB: 2648,
      error: null,
    });
    assert.equal(card.title, 'ollama · ollama · PID 15663 · GPU 0');
    assert.deepEqual(card.lines, ['models: llama3.2:3b (ctx 4096) · 2648 MiB']);
    assert.equal(card.vram, 'VRAM by NVML 2910 MiB · by the server 2648 MiB');
    const chain = {
      mode: 'auto' as const,
      busy: false,
      steps: [],
      actions: [
        {
          t: NOW,
          gpu: 0,
          step: 1,
          label: 'unloadModel ollama',
          origin: 'manual' as const,
          result: 'done',
          message: 'unloaded',
          beforeMiB: 7498,
          afterMiB: 4660,
        },
      ],
    };
    assert.equal(autoEnabled(chain), true);
    assert.deepEqual(
      chainActions(chain, NOW).map((a) => [a.text, a.memory]),
      [['step 2 unloadModel ollama (manual) on GPU 0: unloaded', '7498 MiB → 4660 MiB']],
    );
    assert.equal(formatSizeFromMiB(3686.4), '3.60 GiB');
  });
});

describe('the dry run in the fallback chain panel', () => {
  it('shows each GPU and step with its level, memory, mode, result and what would happen, under the time it was asked', () => {
    const view = dryRunView(
      {
        t: NOW,
        steps: [
          {
            gpu: 0,
            level: 'critical',
            step: 1,
            label: 'unloadModel ollama',
            mode: 'confirm',
            result: 'would-run',
            message: 'would ask, then unload every model of ollama',
            usedMiB: 7498.2,
            totalMiB: 8192,
          },
        ],
      },
      NOW,
    );
    assert.equal(view.heading, `Dry run at ${new Date(NOW).toTimeString().slice(0, 8)} — nothing was done`);
    assert.deepEqual(view.rows, [
      {
        gpu: 'GPU 0 · CRITICAL · 7498 MiB of 8192 MiB',
        step: '2. unloadModel ollama',
        mode: 'confirm',
        result: 'would-run',
        text: 'would ask, then unload every model of ollama',
      },
    ]);
    assert.equal(view.empty, null);
  });

  it('with no steps configured, says so instead of an empty table', () => {
    const view = dryRunView({ t: NOW, steps: [] }, NOW);
    assert.deepEqual(view.rows, []);
    assert.match(view.empty ?? '', /No fallback steps are configured \(vramGuard\.fallbackChain\)/);
  });
});

describe('a chart that shows what it has', () => {
  it('with 20 s of history and the 1 h range, the window spans the 20 s and says "last 20 s"; it grows with each sample up to the hour', () => {
    const s = fromSnapshot(snapshot({ bounds: { first: NOW - 20_000, last: NOW } }));
    assert.deepEqual(s.window, { from: NOW - 20_000, to: NOW });
    assert.equal(shortWindowLabel(s), 'last 20 s');
    applySample(s, { t: NOW + 1000, g: [[0, 3603, 4096, 'warning']], m: null });
    assert.deepEqual(s.window, { from: NOW - 20_000, to: NOW + 1000 });
    assert.equal(shortWindowLabel(s), 'last 21 s');
    // An hour and more of history: the range as chosen, no label.
    applySample(s, { t: NOW - 20_000 + 3_700_000, g: [[0, 3603, 4096, 'warning']], m: null });
    assert.equal(s.window.to - s.window.from, 3_600_000);
    assert.equal(shortWindowLabel(s), null);
  });

  it('never less than 10 s, and the range buttons still choose: 5 min with 2 min of history shows the 2 min', () => {
    const s = fromSnapshot(snapshot({ bounds: { first: NOW - 2000, last: NOW } }));
    assert.deepEqual(s.window, { from: NOW - 10_000, to: NOW });
    const t = fromSnapshot(snapshot({ bounds: { first: NOW - 120_000, last: NOW } }));
    selectRange(t, '5m');
    assert.equal(t.range, '5m');
    assert.deepEqual(t.window, { from: NOW - 120_000, to: NOW });
    assert.equal(shortWindowLabel(t), 'last 2 m');
    zoomTo(t, NOW - 60_000, NOW - 30_000);
    assert.equal(shortWindowLabel(t), null, 'a zoom is not "the last" anything');
  });
});

describe("the card's first line", () => {
  it('is the level in words, then the trend once there is one', () => {
    assert.equal(
      cardVerdict('critical', { text: 'growing 120 MiB/h: OOM in about 2 h at this rate' }),
      'CRITICAL, close to out of memory · growing 120 MiB/h: OOM in about 2 h at this rate',
    );
    // From the real trend over 20 s of samples: too little for a verdict, and it says so.
    const tv = trendView({ t: [NOW - 20_000, NOW - 10_000, NOW], v: [3600, 3601, 3602] }, 4096);
    assert.equal(cardVerdict('ok', tv), `OK, room to spare · ${tv.text}`);
    assert.match(tv.text, /too soon to rule out a leak/);
    assert.equal(cardVerdict(null, null), 'No reading yet');
  });
});

describe("the chart's text alternative", () => {
  it('gives the span, the figures now, lowest and highest, where WARNING starts, and the verdict', () => {
    const gpu = snapshot().gpus[0];
    assert.ok(gpu);
    // 3600, 3700, 3650 MiB: now 3650 MiB = 3.56 GiB, lowest 3.52 GiB, highest 3.61 GiB; WARNING at 3276.8 MiB = 3.20 GiB.
    const text = chartTextAlternative(gpu, { t: [1, 2, 3], v: [3600, 3700, 3650] }, 'the last 20 s', 'WARNING, little room for another model');
    assert.equal(
      text,
      'Used VRAM on GPU 0 over the last 20 s: 3.56 GiB of 4.00 GiB now, lowest 3.52 GiB, highest 3.61 GiB. WARNING starts at 3.20 GiB. WARNING, little room for another model.',
    );
    assert.match(chartTextAlternative(gpu, { t: [], v: [] }, 'the last 1 h', 'No reading yet'), /no samples in this range yet/);
  });
});
