/**
 * What the NVML sampler the watcher uses costs: one sample's round trip from the caller to the
 * sampler (which owns the koffi handle) and back, against the fake library (1 GPU, 5 processes);
 * how long opening one takes (start + nvmlInit); and the memory one adds to this machine (this
 * process and its children, resident set, Linux). Runnable alone: `node bench/nvml-sampler.ts`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openNvmlWorker } from '../src/core/gpu/nvml-worker-source.ts';
import { buildFakeNvml, type FakeDevice, FakeNvmlState, GiB, MiB, repoRoot } from '../test/helpers/fake-nvml.ts';

/** The GPU the driver benchmarks read: an 8 GiB card, two thirds used, with five processes. */
export const BENCH_GPU: FakeDevice = {
  name: 'NVIDIA GeForce RTX 3070',
  total: 8 * GiB,
  used: 5418 * MiB,
  reserved: 312 * MiB,
  processes: [1, 2, 3, 4, 5].map((i) => ({ pid: 4000 + i, used: i * 300 * MiB, name: `/usr/bin/server-${i}` })),
};

/** A sample's round trip through the sampler: at most this many µs (median), at 1 Hz a rounding error. */
export const SAMPLER_ROUND_TRIP_TARGET_US = 500;
/** Resident memory one sampler (a Node runtime of its own) may add. */
export const SAMPLER_MEMORY_TARGET_MB = 80;

export interface SamplerFigures {
  samples: number;
  medianUs: number;
  p90Us: number;
  openMedianMs: number;
  /** Resident memory one open sampler adds (this process and its children), MB; null off Linux. */
  addedMB: number | null;
  targetUs: number;
  targetMB: number;
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const percentile = (values: number[], p: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Resident bytes of this process and its direct children, from /proc; null where there is none. */
function treeRssBytes(): number | null {
  const rssOf = (pid: string): number => {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  };
  try {
    let total = rssOf(String(process.pid));
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === process.pid) total += rssOf(pid);
      } catch {
        // gone meanwhile
      }
    }
    return total;
  } catch {
    return null;
  }
}

export async function measureNvmlSampler(count = 3000): Promise<SamplerFigures> {
  const lib = await buildFakeNvml();
  const fake = await FakeNvmlState.create({
    devices: [BENCH_GPU],
  });
  const callerState = process.env.FAKE_NVML_STATE;
  process.env.FAKE_NVML_STATE = fake.path;
  // The worker as it ships (bundled by `npm run build`), else its source.
  const bundled = join(repoRoot, 'dist', 'nvml-worker.cjs');
  const workerFile = existsSync(bundled) ? bundled : undefined;

  const opens: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const opened = await openNvmlWorker({ libraryPath: lib, workerFile });
    opens.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (!opened.ok) throw new Error(opened.reason);
    await opened.source.dispose();
  }

  globalThis.gc?.();
  const rssBefore = treeRssBytes();
  const opened = await openNvmlWorker({ libraryPath: lib, workerFile });
  if (!opened.ok) throw new Error(opened.reason);
  const source = opened.source;
  try {
    for (let i = 0; i < 200; i++) await source.sample(i);
    const rssAfter = treeRssBytes();
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      await source.sample(i);
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    return {
      samples: count,
      medianUs: median(times),
      p90Us: percentile(times, 90),
      openMedianMs: median(opens),
      addedMB: rssBefore === null || rssAfter === null ? null : (rssAfter - rssBefore) / 1e6,
      targetUs: SAMPLER_ROUND_TRIP_TARGET_US,
      targetMB: SAMPLER_MEMORY_TARGET_MB,
    };
  } finally {
    await source.dispose();
    if (callerState === undefined) delete process.env.FAKE_NVML_STATE;
    else process.env.FAKE_NVML_STATE = callerState;
  }
}

/** The bench table's rows for these figures. */
export function samplerRows(f: SamplerFigures): Array<{ measure: string; value: string; target: string; ok: boolean }> {
  return [
    {
      measure: 'NVML sample through the sampler (round trip)',
      value: `${f.medianUs.toFixed(1)} µs median, p90 ${f.p90Us.toFixed(1)} µs of ${f.samples}`,
      target: `≤ ${f.targetUs} µs`,
      ok: f.medianUs <= f.targetUs,
    },
    {
      measure: 'NVML sampler start (until nvmlInit returned)',
      value: `${f.openMedianMs.toFixed(1)} ms median, ${f.addedMB === null ? 'memory not measured' : `${f.addedMB.toFixed(1)} MB resident`}`,
      target: f.addedMB === null ? '' : `≤ ${f.targetMB} MB`,
      ok: f.addedMB === null || f.addedMB <= f.targetMB,
    },
  ];
}

if (import.meta.main) {
  const figures = await measureNvmlSampler();
  for (const r of samplerRows(figures)) console.log(`${r.measure}  ${r.value}  ${r.target}${r.target ? (r.ok ? '  met' : '  MISSED') : ''}`);
}
