/**
 * The spike engine with everything injected: a GPU whose used memory the fake servers raise, a
 * clock whose sleeps pass at once (time jumps by the delay), fake servers and loads. No process, no
 * waiting: the order of the steps, the figures, the decision, cancel and failure.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../../../src/core/clock.ts';
import type { LaunchResult, SpikeLauncher } from '../../../src/core/checks/spike-launcher.ts';
import type { LoadResult } from '../../../src/core/checks/spike-load.ts';
import { validateSpikeSpec, type SpikeServer, type SpikeSpec } from '../../../src/core/checks/spike-spec.ts';
import { median, runSpike, type SpikeDeps, type SpikeProgress } from '../../../src/core/checks/spike.ts';
import type { GpuSample } from '../../../src/core/gpu/types.ts';
import type { GpuLedger } from '../../../src/core/servers/ledger.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import { parseThresholds } from '../../../src/core/watch/thresholds.ts';

/** Sleeps end on the next turn of the event loop, and the clock jumps by their delay. */
class InstantClock implements Clock {
  time = 1_771_713_628_000; // 2026-02-21T22:40:28Z
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return setImmediate(() => {
      this.time += ms;
      fn();
    });
  }
  clearTimeout(handle: unknown): void {
    clearImmediate(handle as NodeJS.Immediate);
  }
}

const thresholds = parseThresholds({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, '2%').spec;

function spec(overrides: Partial<SpikeSpec> = {}): SpikeSpec {
  const r = validateSpikeSpec({
    settleSeconds: 10,
    samples: 5,
    rounds: 3,
    sampleIntervalMs: 100,
    peakWindowSeconds: 2,
    servers: [
      { name: 'whisper', server: 'whisper-cpp', command: ['whisper-server'], args: ['-m', 'ggml-distil-large-v3.bin'], port: 8081 },
      { name: 'ollama', server: 'ollama', port: 11434, load: { model: 'llama3.2:3b' } },
    ],
  });
  assert.ok(r.ok, JSON.stringify(r));
  return { ...r.spec, ...overrides };
}

interface World {
  deps: SpikeDeps;
  used: { bytes: number };
  events: string[];
  progress: SpikeProgress[];
  clock: InstantClock;
}

/**
 * A GPU at `baseMiB`; each fake server adds its MiB when it starts and frees it when stopped; each
 * load request adds `bumpMiB` while it runs.
 */
function world(sizes: Record<string, number>, options: { baseMiB?: number; bumpMiB?: number; failStart?: string; loadFails?: string } = {}): World {
  const clock = new InstantClock();
  const used = { bytes: (options.baseMiB ?? 1464) * MiB };
  const events: string[] = [];
  const progress: SpikeProgress[] = [];
  const running = new Set<string>();
  let pid = 4000;
  const sample = async (): Promise<GpuSample> => ({
    source: 'nvml',
    timestamp: clock.now(),
    driverVersion: '550.54.14',
    sourceVersion: '12.550.54.14',
    devices: [
      {
        index: 0,
        name: 'NVIDIA GeForce RTX 3070',
        uuid: 'GPU-1',
        memory: { total: 8 * GiB, used: used.bytes, free: 8 * GiB - used.bytes, reserved: 0 },
        utilization: { gpu: 0, memory: 0 },
        temperatureC: 50,
        powerW: 30,
        persistenceMode: true,
        processes: [],
        error: null,
      },
    ],
  });
  const launcher: SpikeLauncher = {
    async start(server: SpikeServer, signal: AbortSignal): Promise<LaunchResult> {
      events.push(`start ${server.name}`);
      if (options.failStart === server.name)
        return { ok: false, message: 'The server exited during start-up with exit code 1.', lastLines: ['error: model not found'], cancelled: false };
      if (signal.aborted) return { ok: false, message: 'cancelled', lastLines: [], cancelled: true };
      running.add(server.name);
      used.bytes += (sizes[server.name] ?? 0) * MiB;
      const myPid = ++pid;
      return {
        ok: true,
        readyMs: 1234,
        server: {
          pid: myPid,
          exited: () => !running.has(server.name),
          lastLines: () => [],
          stop: async () => {
            events.push(`stop ${server.name}`);
            running.delete(server.name);
            used.bytes -= (sizes[server.name] ?? 0) * MiB;
            return { how: 'SIGTERM', waitedMs: 40, pids: [myPid] };
          },
        },
      };
    },
  };
  const load = async (server: SpikeServer): Promise<LoadResult> => {
    events.push(`load ${server.name}`);
    used.bytes += (options.bumpMiB ?? 0) * MiB;
    await new Promise((r) => clock.setTimeout(() => r(undefined), 150));
    used.bytes -= (options.bumpMiB ?? 0) * MiB;
    if (options.loadFails === server.name) return { ok: false, status: 500, ms: 150, error: 'POST /api/generate answered HTTP 500' };
    return { ok: true, status: 200, ms: 150, error: null };
  };
  const ledger = async (_sample: GpuSample, owners: Parameters<NonNullable<SpikeDeps['ledger']>>[1]): Promise<GpuLedger[]> => [
    {
      gpu: 0,
      name: 'NVIDIA GeForce RTX 3070',
      total: 8 * GiB,
      used: used.bytes,
      owned: owners.map((owner) => ({
        owner,
        processes: [],
        nvmlBytes: (sizes[owner.name] ?? 0) * MiB,
        reportedBytes: owner.kind === 'ollama' ? ((sizes[owner.name] ?? 0) - 200) * MiB : null,
        report:
          owner.kind === 'ollama'
            ? {
                kind: 'ollama',
                reachable: true,
                healthy: true,
                models: [{ name: 'llama3.2:3b', vramBytes: 0, contextLength: 4096 }],
                contextLength: null,
                sleeping: null,
                error: null,
              }
            : null,
      })),
      other: [],
      residualBytes: 0,
      residualHint: null,
    },
  ];
  return {
    deps: { sample, source: { kind: 'nvml', description: 'NVML (fake)' }, thresholds, clock, launcher, load, ledger },
    used,
    events,
    progress,
    clock,
  };
}

describe('spike engine', () => {
  it('measures baseline, each server and the concurrent peak, and decides GO as the user did', async () => {
    const w = world({ whisper: 1116, ollama: 2838 }, { bumpMiB: 1.5 });
    const r = await runSpike(spec(), w.deps, { onProgress: (p) => w.progress.push(p) });
    assert.equal(r.status, 'complete', r.problem ?? '');
    assert.deepEqual(
      r.rows.map((row) => [row.label, row.usedBytes / MiB, row.deltaBytes === null ? null : row.deltaBytes / MiB, row.percent.toFixed(1)]),
      [
        ['Baseline', 1464, null, '17.9'],
        ['+ whisper', 2580, 1116, '31.5'],
        ['+ ollama', 5418, 2838, '66.1'],
        ['Concurrent inference peak', 5421, 3, '66.2'],
      ],
    );
    assert.equal(r.headroomBytes, 2771 * MiB);
    assert.deepEqual(
      { verdict: r.decision?.verdict, margin: r.decision!.marginBytes / MiB, level: r.decision?.level },
      { verdict: 'GO', margin: 723, level: 'ok' },
    );
    // Warm-up request after each start, then 3 rounds to both at once; stopped newest first.
    assert.deepEqual(w.events, [
      'start whisper',
      'load whisper',
      'start ollama',
      'load ollama',
      'load whisper',
      'load ollama',
      'load whisper',
      'load ollama',
      'load whisper',
      'load ollama',
      'stop ollama',
      'stop whisper',
    ]);
    assert.equal(r.servers[1]!.load.ok, 3);
    assert.equal(r.servers[1]!.load.warmUp?.ok, true);
    assert.deepEqual([r.servers[1]!.nvmlBytes! / MiB, r.servers[1]!.reportedBytes! / MiB, r.servers[1]!.models], [2838, 2638, ['llama3.2:3b']]);
    assert.deepEqual(r.afterStop, { usedBytes: 1464 * MiB, aboveBaselineBytes: 0 });
    assert.deepEqual(
      r.servers.map((s) => s.stop?.how),
      ['SIGTERM', 'SIGTERM'],
    );
    // Sampled at 10 Hz for at least the 2 s window, the median of 5 samples per state.
    assert.ok(r.peak!.rateHz >= 10, `${r.peak!.rateHz} Hz`);
    assert.ok(r.peak!.durationMs >= 2000);
    assert.equal(r.rows[0]!.samples.length, 5);
    // Progress only moves forward, and ends at 1.
    const fractions = w.progress.map((p) => p.fraction);
    assert.deepEqual(
      fractions,
      [...fractions].sort((a, b) => a - b),
    );
    assert.equal(w.progress.at(-1)?.step, 'done');
    assert.equal(fractions.at(-1), 1);
  });

  it('decides NO-GO when the second server adds 4500 MiB, with the margin above WARNING', async () => {
    const w = world({ whisper: 1116, ollama: 4500 }, { bumpMiB: 1.5 });
    const r = await runSpike(spec(), w.deps);
    assert.equal(r.rows.at(-1)!.usedBytes, 7083 * MiB);
    assert.equal(r.decision?.verdict, 'NO-GO');
    assert.equal(r.decision!.marginBytes, -939 * MiB);
    assert.equal(r.decision?.level, 'warning');
  });

  it('a peak exactly at WARNING is NO-GO', async () => {
    const w = world({ whisper: 2000, ollama: 6144 - 1464 - 2000 });
    const r = await runSpike(spec(), w.deps);
    assert.equal(r.peak!.usedBytes, 6144 * MiB);
    assert.equal(r.decision?.verdict, 'NO-GO');
    assert.equal(r.decision?.marginBytes, 0);
  });

  it('cancelled while the first server settles: incomplete, it is stopped, the second never starts', async () => {
    const w = world({ whisper: 1116, ollama: 2838 });
    const controller = new AbortController();
    const r = await runSpike(spec(), w.deps, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.step === 'settling' && p.server === 'whisper') controller.abort();
      },
    });
    assert.equal(r.status, 'cancelled');
    assert.equal(r.decision, null);
    assert.equal(r.peak, null);
    assert.deepEqual(
      r.rows.map((row) => row.label),
      ['Baseline'],
    );
    assert.deepEqual(w.events, ['start whisper', 'load whisper', 'stop whisper']);
    assert.equal(r.servers[1]!.stop, null);
    assert.equal(w.used.bytes, 1464 * MiB);
  });

  it('cancelled during the load: the load stops, every server is stopped', async () => {
    const w = world({ whisper: 1116, ollama: 2838 });
    const controller = new AbortController();
    const r = await runSpike(spec({ leaveRunning: true }), w.deps, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.step === 'load') setImmediate(() => controller.abort());
      },
    });
    assert.equal(r.status, 'cancelled');
    assert.deepEqual(w.events.slice(-2), ['stop ollama', 'stop whisper'], 'a cancelled spike stops what it started even when asked to leave it running');
  });

  it('a server that fails to start fails the spike with its message; the one before is stopped', async () => {
    const w = world({ whisper: 1116, ollama: 2838 }, { failStart: 'ollama' });
    const r = await runSpike(spec(), w.deps);
    assert.equal(r.status, 'failed');
    assert.match(r.problem!, /^"ollama" did not start: The server exited during start-up with exit code 1\./);
    assert.deepEqual(r.servers[1]!.lastLines, ['error: model not found']);
    assert.deepEqual(w.events, ['start whisper', 'load whisper', 'start ollama', 'stop whisper']);
  });

  it('leaves a complete spike running when asked', async () => {
    const w = world({ whisper: 1116, ollama: 2838 });
    const r = await runSpike(spec({ leaveRunning: true }), w.deps);
    assert.equal(r.status, 'complete');
    assert.ok(!w.events.some((e) => e.startsWith('stop')));
    assert.deepEqual(
      r.servers.map((s) => s.stop?.how),
      ['left-running', 'left-running'],
    );
    assert.equal(r.afterStop, null);
  });

  it('counts failed load requests and says the peak may be low', async () => {
    const w = world({ whisper: 1116, ollama: 2838 }, { loadFails: 'ollama' });
    const r = await runSpike(spec(), w.deps);
    assert.equal(r.status, 'complete');
    assert.deepEqual([r.servers[1]!.load.sent, r.servers[1]!.load.failed], [3, 3]);
    assert.deepEqual(r.servers[1]!.load.errors, ['POST /api/generate answered HTTP 500']);
    assert.ok(
      r.notes.some((n) => /3 of 3 load requests to "ollama" failed/.test(n)),
      r.notes.join('\n'),
    );
    assert.ok(r.notes.some((n) => /The first request to "ollama" failed/.test(n)));
  });

  it('fails without starting anything when the GPU is not there', async () => {
    const w = world({ whisper: 1116 });
    const r = await runSpike(spec({ gpu: 1 }), w.deps);
    assert.equal(r.status, 'failed');
    assert.match(r.problem!, /GPU 1 was not found \(this machine has GPU 0\)/);
    assert.deepEqual(w.events, []);
  });

  it('a GPU that stops answering fails the spike and stops the servers', async () => {
    const w = world({ whisper: 1116, ollama: 2838 });
    const sample = w.deps.sample;
    let calls = 0;
    w.deps.sample = async () => {
      if (w.events.includes('start ollama') && ++calls > 2) throw new Error('NVML: GPU_IS_LOST');
      return sample();
    };
    const r = await runSpike(spec(), w.deps);
    assert.equal(r.status, 'failed');
    assert.match(r.problem!, /GPU_IS_LOST/);
    assert.deepEqual(w.events.slice(-2), ['stop ollama', 'stop whisper']);
  });

  it('median', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 3);
    assert.equal(median([5]), 5);
  });
});
