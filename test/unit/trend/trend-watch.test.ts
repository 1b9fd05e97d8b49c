/**
 * What the extension tells about a GPU over time, fed as the watcher feeds it (a sample every 5 s,
 * each also recorded in the live history): a leak once, nothing for steps and bursts, growth beyond
 * a server's baseline once, and a RAM spill with the process that grew.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyDevice, type GpuSample } from '../../../src/core/gpu/types.ts';
import { HistoryStore } from '../../../src/core/history/store.ts';
import type { SystemMemory } from '../../../src/core/history/types.ts';
import { LiveTrend } from '../../../src/core/trend/live-trend.ts';
import type { ProcessRss } from '../../../src/core/trend/process-rss.ts';
import { TrendWatch } from '../../../src/core/trend/trend-watch.ts';
import { utcClock } from '../../../src/core/trend/verdict.ts';
import { MiB } from '../../../src/core/units.ts';
import { burstTrace, type LabelledTrace, leakTrace, stepTrace } from '../../helpers/trend-corpus.ts';

interface Fed {
  told: string[];
  watch: TrendWatch;
  store: HistoryStore;
}

/** Feeds the trace every `every` seconds; `system(i)` gives the RAM and swap at sample i (none by default). */
async function feed(
  c: LabelledTrace,
  options: { every?: number; system?: (i: number) => SystemMemory | null; rss?: () => Map<number, ProcessRss> } = {},
): Promise<Fed> {
  let now = c.t[0] as number;
  const store = new HistoryStore({
    dir: null,
    clock: { now: () => now, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
  });
  const told: string[] = [];
  const watch = new TrendWatch({
    trend: new LiveTrend({ clock: utcClock }),
    history: store,
    ledger: async () => [],
    rss: async () => options.rss?.() ?? new Map(),
    deltas: () => ({}),
    spill: () => ({ minAvailableMiB: 0 }),
    tell: (m) => told.push(m),
  });
  for (let i = 0; i < c.t.length; i += options.every ?? 5) {
    now = c.t[i] as number;
    const used = c.usedMiB[i] as number;
    store.record({ t: now, gpus: [{ gpu: 0, used: Math.round(used * MiB), total: c.totalMiB * MiB }], system: options.system?.(i) ?? null });
    const device = emptyDevice(0);
    device.memory = { total: c.totalMiB * MiB, used: Math.round(used * MiB), free: 0, reserved: 0 };
    device.processes = (c.processes[i] ?? []).map((p) => ({
      pid: p.pid,
      name: p.name,
      usedBytes: p.usedMiB === null ? null : p.usedMiB * MiB,
      kind: 'compute',
    }));
    const sample: GpuSample = { source: 'nvml', timestamp: now, driverVersion: null, sourceVersion: null, devices: [device] };
    await watch.onSample(sample);
  }
  return { told, watch, store };
}

describe('trend watch', () => {
  it('tells of a 500 MiB/h leak once, naming llama-server, and not again as growth beyond its baseline', async () => {
    const { told, watch } = await feed(leakTrace(500));
    assert.equal(told.length, 1, told.join('\n'));
    assert.match(told[0] ?? '', /^VRAM Guard: GPU 0 is leaking (4[5-9]\d|5[0-4]\d) MiB\/h since 0[78]:\d\d in llama-server \(PID 5150\) → full in about/);
    assert.match(watch.lines()[0] ?? '', /^GPU 0: leaking (4[5-9]\d|5[0-4]\d) MiB\/h/);
  });

  it('tells nothing of model loads, unloads and bursts', async () => {
    assert.deepEqual((await feed(stepTrace())).told, []);
    assert.deepEqual((await feed(burstTrace())).told, []);
  });

  it('tells of a RAM spill with the process whose memory grew, and marks it on the chart', async () => {
    const c = stepTrace();
    // Ten minutes into the fourth hour, RAM goes from 789 MiB to 6 GiB and swap fills, in three minutes.
    const at = 3 * 3600 + 600;
    const system = (i: number): SystemMemory => {
      const x = Math.min(1, Math.max(0, (i - at) / 180));
      return { ramUsed: (789 + x * 5355) * MiB, ramTotal: 16_384 * MiB, swapUsed: x * 1331 * MiB, swapTotal: 8192 * MiB };
    };
    // python3's resident memory grows with the RAM (the daemon retrying on the CPU side).
    let x = 0;
    const rss = () => new Map([[24817, { pid: 24817, name: 'python3', rssMiB: 700 + x * 5100 }]]);
    const fed = feed(c, {
      system: (i) => {
        x = Math.min(1, Math.max(0, (i - at) / 180));
        return system(i);
      },
      rss,
    });
    const { told, store } = await fed;
    const spills = told.filter((m) => m.includes('RAM spill'));
    assert.equal(spills.length, 1, told.join('\n'));
    assert.match(
      spills[0] ?? '',
      /^VRAM Guard: RAM spill: RAM 789 MiB → \d\.\d GiB and swap 0 MiB → \d+ MiB within \d min: python3 \(PID 24817\) grew \d+ MiB — memory moving out of VRAM/,
    );
    assert.ok(store.events().some((e) => e.kind === 'note' && e.text.startsWith('RAM spill:')));
  });
});
