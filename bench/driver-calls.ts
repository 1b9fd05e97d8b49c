/**
 * The driver-call budget: how many NVML calls the watcher makes in a minute at the default settings
 * (sample interval, adaptive rate, process-list interval), counted by the fake library itself, through
 * the real worker and koffi. Time is simulated (a clock that jumps to the watcher's next tick), so a
 * minute takes a moment; every call is real. Three cases: steady memory well below WARNING (calm
 * rate), steady memory just below WARNING (fast rate), and memory climbing near WARNING.
 */
import type { Clock } from '../src/core/clock.ts';
import { probeSource } from '../src/core/gpu/probe.ts';
import { DEFAULT_THRESHOLDS } from '../src/core/watch/thresholds.ts';
import { DEFAULT_ADAPTIVE, Watcher } from '../src/core/watch/watcher.ts';
import { buildFakeNvml, desktopRtx3070, fakeNvmlCallCounter, FakeNvmlState, MiB, type FakeState } from '../test/helpers/fake-nvml.ts';

/** At most this many process listings per GPU per minute while memory is steady. */
export const PROCESS_LISTINGS_PER_MINUTE_TARGET = 12;

/** A clock with one pending timer (the watcher's next tick), which the bench fires by jumping to it. */
class SteppingClock implements Clock {
  time = 1_700_000_000_000;
  pending: { at: number; fn: () => void } | null = null;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    this.pending = { at: this.time + ms, fn };
    return this.pending;
  }
  clearTimeout(handle: unknown): void {
    if (this.pending === handle) this.pending = null;
  }
}

export interface DriverCallCase {
  case: string;
  samples: number;
  memoryInfoCalls: number;
  processListings: number;
  processListCalls: number;
}

const SIMULATED_MS = 60_000;

async function runCase(name: string, lib: string, state: FakeState, onTick?: (elapsedMs: number) => FakeState | null): Promise<DriverCallCase> {
  const fake = await FakeNvmlState.create(state);
  process.env.FAKE_NVML_STATE = fake.path;
  const counter = await fakeNvmlCallCounter();
  const clock = new SteppingClock();
  const watcher = new Watcher({
    openSource: () => probeSource({ preference: 'nvml', nvmlLibraryPath: lib }),
    thresholds: DEFAULT_THRESHOLDS,
    intervalMs: 1000,
    adaptive: DEFAULT_ADAPTIVE,
    clock,
  });
  let samples = 0;
  watcher.on('sample', () => samples++);
  const nextTimer = async () => {
    while (!clock.pending) await new Promise((r) => setTimeout(r, 1));
    const t = clock.pending;
    clock.pending = null;
    clock.time = t.at;
    t.fn();
  };
  watcher.start();
  await nextTimer(); // the probe and the first sample (every process listed once)
  while (samples < 1) await new Promise((r) => setTimeout(r, 1));
  counter.reset();
  samples = 0;
  const start = clock.time;
  while (clock.time - start < SIMULATED_MS) {
    const next = onTick?.(clock.time - start);
    if (next) await fake.write(next);
    await nextTimer();
    const before = samples;
    while (samples === before) await new Promise((r) => setTimeout(r, 1));
  }
  await watcher.stop();
  const perMinute = (n: number) => Math.round((n * 60_000) / (clock.time - start));
  return {
    case: name,
    samples: perMinute(samples),
    memoryInfoCalls: perMinute(counter.calls('nvmlDeviceGetMemoryInfo_v2') + counter.calls('nvmlDeviceGetMemoryInfo')),
    processListings: perMinute(counter.calls('listing:compute')),
    processListCalls: perMinute(
      ['Compute', 'Graphics'].flatMap((k) => ['_v3', '_v2', ''].map((v) => counter.calls(`nvmlDeviceGet${k}RunningProcesses${v}`))).reduce((a, b) => a + b, 0),
    ),
  };
}

export async function measureDriverCalls(): Promise<DriverCallCase[]> {
  const lib = await buildFakeNvml();
  const withServers = (usedMiB: number): FakeState =>
    desktopRtx3070({
      used: usedMiB * MiB,
      processes: [
        { pid: 1187, used: 1140 * MiB, name: '/usr/lib/xorg/Xorg', kind: 'graphics' },
        { pid: 4242, used: (usedMiB - 1200) * MiB, name: '/usr/local/bin/llama-server', kind: 'compute' },
      ],
    });
  // WARNING at the default 80 % of 8 GiB is 6553.6 MiB.
  return [
    await runCase('steady, well below WARNING (calm rate)', lib, withServers(3000)),
    await runCase('steady, just below WARNING (fast rate)', lib, withServers(6400)),
    await runCase('climbing 40 MiB/s near WARNING (fast rate)', lib, withServers(6000), (ms) => withServers(6000 + Math.floor(ms / 1000) * 40)),
  ];
}
