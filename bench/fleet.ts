/**
 * The fleet's budget, measured: one refresh of 100 hosts × 8 GPUs from Prometheus (the four
 * replies recorded in bench/fixtures/prometheus-100x8.json.gz, in Prometheus' HTTP API shapes),
 * through the whole read path — the bounded body read, JSON checks, hosts and levels, sparklines —
 * plus the dashboard's Fleet message and the status bar's line: the extension host's time (median
 * of 20) and the memory a refresh allocates.
 *
 *   node --max-semi-space-size=256 bench/fleet.ts   (npm run bench runs it so, in its own process)
 *   node bench/fleet.ts --record                     regenerates the fixture (seeded, so the same every time)
 *
 * The large young generation keeps the collector out of one refresh, so the heap's growth over it
 * is what the refresh allocated, not what happened to survive the last scavenge.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync, gzipSync } from 'node:zlib';
import { FleetRefresher } from '../src/core/fleet/fleet-refresh.ts';
import { fleetLine } from '../src/core/fleet/fleet-summary.ts';
import { DCGM, VG } from '../src/core/fleet/metric-names.ts';
import { fleetQueries, SPARKLINE_POINTS, SPARKLINE_WINDOW_S } from '../src/core/fleet/prometheus-source.ts';
import { GiB, MiB } from '../src/core/units.ts';
import { DEFAULT_THRESHOLDS } from '../src/core/watch/thresholds.ts';
import { fleetView } from '../src/vscode/dashboard/dashboard-fleet.ts';
import type { BenchRow } from './dashboard.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'prometheus-100x8.json.gz');
const HOSTS = 100;
const GPUS = 8;
/** When the replies were "recorded": the refresh is run at this time. */
const RECORDED_AT_S = 1_780_000_000;

interface Recorded {
  hosts: number;
  gpusPerHost: number;
  at: number;
  replies: { latest: string; holders: string; scraped: string; used: string };
}

/** A seeded generator, so the fixture is the same every time it is recorded. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function record(): Recorded {
  const rand = rng(42);
  const latest: unknown[] = [];
  const holders: unknown[] = [];
  const scraped: unknown[] = [];
  const used: unknown[] = [];
  const at = RECORDED_AT_S;
  const v = (x: number) => [at, String(x)];
  for (let h = 0; h < HOSTS; h++) {
    const hostname = `gpu-node-${String(h).padStart(3, '0')}`;
    const instance = `10.0.${Math.floor(h / 250)}.${(h % 250) + 1}:${h < 70 ? 9835 : 9400}`;
    const dcgmOnly = h >= 70; // 70 VRAM Guard exporters, 30 dcgm-exporters
    if (!dcgmOnly) latest.push({ metric: { __name__: VG.lastSample, hostname, instance }, value: v(at - 1) });
    scraped.push({ metric: { instance }, value: v(at - rand()) });
    for (let g = 0; g < GPUS; g++) {
      const total = (dcgmOnly ? 80 : 24) * GiB;
      const usedBytes = Math.round(total * (0.05 + 0.9 * rand()));
      const uuid = `GPU-${h.toString(16).padStart(4, '0')}${g}-0000-4000-8000-000000000000`;
      // max by (__name__, instance, Hostname, gpu, UUID, modelName): the labels the query keeps.
      const dcgmLabels = {
        gpu: String(g),
        UUID: uuid,
        modelName: dcgmOnly ? 'NVIDIA A100-SXM4-80GB' : 'NVIDIA GeForce RTX 4090',
        Hostname: hostname,
        instance,
      };
      const usedMiB = Math.floor(usedBytes / MiB);
      // max by (instance, gpu) (…): one series per GPU, in MiB.
      const points = () =>
        Array.from({ length: SPARKLINE_POINTS }, (_, i) => [
          at - SPARKLINE_WINDOW_S + (i + 1) * (SPARKLINE_WINDOW_S / SPARKLINE_POINTS),
          String(Math.round((usedBytes * (0.8 + 0.2 * rand())) / MiB)),
        ]);
      used.push({ metric: { gpu: String(g), instance }, values: points() });
      if (dcgmOnly) {
        // What `unless on(instance)` leaves: dcgm-exporter's gauges only where no VRAM Guard exporter runs.
        latest.push({ metric: { __name__: DCGM.used, ...dcgmLabels }, value: v(usedMiB) });
        latest.push({ metric: { __name__: DCGM.free, ...dcgmLabels }, value: v(Math.floor(total / MiB) - usedMiB - 595) });
        latest.push({ metric: { __name__: DCGM.reserved, ...dcgmLabels }, value: v(595) });
        continue;
      }
      const labels = { hostname, gpu: String(g), uuid, name: 'NVIDIA GeForce RTX 4090', instance };
      latest.push({ metric: { __name__: VG.used, ...labels }, value: v(usedBytes) });
      latest.push({ metric: { __name__: VG.total, ...labels }, value: v(total) });
      latest.push({ metric: { __name__: VG.free, gpu: String(g), instance }, value: v(total - usedBytes) });
      for (const [level, p] of [
        ['warning', 0.8],
        ['critical', 0.9],
        ['emergency', 0.95],
      ] as const)
        latest.push({ metric: { __name__: VG.threshold, level, gpu: String(g), instance }, value: v(Math.round(total * p)) });
      // topk(3, sum by (instance, hostname, gpu, task, server, process) (…)): three holders per GPU.
      for (let p = 0; p < 3; p++) {
        const owned = p < 2;
        holders.push({
          metric: {
            hostname,
            gpu: String(g),
            process: owned ? 'llama-server' : 'python3',
            ...(owned ? { task: `task-${g}-${p}`, server: 'llama-server' } : {}),
            instance,
          },
          value: v(Math.round(usedBytes / (3 + p))),
        });
      }
    }
  }
  const envelope = (resultType: string, result: unknown[]) => JSON.stringify({ status: 'success', data: { resultType, result } });
  return {
    hosts: HOSTS,
    gpusPerHost: GPUS,
    at: at * 1000,
    replies: { latest: envelope('vector', latest), holders: envelope('vector', holders), scraped: envelope('vector', scraped), used: envelope('matrix', used) },
  };
}

/** A fetch that answers the three queries from the recording, as a loopback Prometheus would. */
function replay(rec: Recorded): typeof fetch {
  const q = fleetQueries();
  return async (input) => {
    const url = new URL(String(input));
    const query = url.searchParams.get('query');
    const body = url.pathname.endsWith('query_range')
      ? rec.replies.used
      : query === q.latest
        ? rec.replies.latest
        : query === q.holders
          ? rec.replies.holders
          : query === q.scraped
            ? rec.replies.scraped
            : null;
    if (body === null) return new Response(JSON.stringify({ status: 'error', errorType: 'bad_data', error: `not recorded: ${query}` }), { status: 400 });
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
  };
}

export interface FleetBench {
  rows: BenchRow[];
  result: {
    hosts: number;
    gpus: number;
    replyBytes: number;
    medianMs: number;
    p90Ms: number;
    allocatedMB: number;
    retainedMB: number;
    targets: { ms: number; mb: number };
  };
}

export async function measureFleet(): Promise<FleetBench> {
  const rec = JSON.parse(gunzipSync(await readFile(FIXTURE)).toString('utf8')) as Recorded;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const fetchFn = replay(rec);
  const refresher = new FleetRefresher();
  const once = async () => {
    const s = await refresher.refresh(
      { prometheus: 'http://prometheus.bench:9090', targets: [], token: null, ours: DEFAULT_THRESHOLDS, staleAfterMs: 120_000, fetch: fetchFn },
      rec.at,
    );
    const message = JSON.stringify({ type: 'fleet', fleet: fleetView(s) });
    return { s, line: fleetLine(s), bytes: message.length };
  };
  const first = await once();
  const gpus = first.s.hosts.reduce((n, h) => n + h.gpus.length, 0);
  if (first.s.hosts.length !== rec.hosts || gpus !== rec.hosts * rec.gpusPerHost)
    throw new Error(`the recording gave ${first.s.hosts.length} hosts, ${gpus} GPUs: ${first.line}`);
  for (let i = 0; i < 2; i++) await once();
  // CPU time of this process (the extension host's cost), not wall time: other work on the machine does not count.
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const c0 = process.cpuUsage();
    await once();
    const c = process.cpuUsage(c0);
    times.push((c.user + c.system) / 1000);
  }
  const mem = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  // What one refresh allocates and holds at its end (median of 5, each from a collected heap), and what stays after.
  const allocations: number[] = [];
  let retained = 0;
  for (let i = 0; i < 5; i++) {
    gc();
    const before = mem();
    const kept = await once();
    allocations.push((mem() - before) / 1e6);
    gc();
    retained = Math.max(retained, (mem() - before) / 1e6);
    void kept;
  }
  allocations.sort((a, b) => a - b);
  const allocated = allocations[2]!;
  times.sort((a, b) => a - b);
  const medianMs = times[Math.floor(times.length / 2)]!;
  const p90Ms = times[Math.floor(times.length * 0.9)]!;
  const replyBytes = Object.values(rec.replies).reduce((n, r) => n + r.length, 0);
  return {
    rows: [
      {
        measure: `fleet refresh, ${rec.hosts} hosts × ${rec.gpusPerHost} GPUs (${(replyBytes / 1e6).toFixed(1)} MB of replies)`,
        value: `${medianMs.toFixed(1)} ms CPU median, p90 ${p90Ms.toFixed(1)} ms`,
        target: '≤ 50 ms',
        ok: medianMs <= 50,
      },
      { measure: 'fleet refresh memory', value: `${allocated.toFixed(1)} MB during, ${retained.toFixed(1)} MB kept`, target: '≤ 20 MB', ok: allocated <= 20 },
    ],
    result: { hosts: rec.hosts, gpus, replyBytes, medianMs, p90Ms, allocatedMB: allocated, retainedMB: retained, targets: { ms: 50, mb: 20 } },
  };
}

/** Runs the measurement in its own process, with the young generation it needs. */
export function measureFleetInChild(): Promise<FleetBench> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--max-semi-space-size=256', import.meta.filename, '--json'], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`bench/fleet.ts failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as FleetBench);
    });
  });
}

if (import.meta.main) {
  if (process.argv.includes('--record')) {
    await writeFile(FIXTURE, gzipSync(JSON.stringify(record())));
    console.log(`recorded ${FIXTURE}`);
  } else if (process.argv.includes('--json')) {
    console.log(JSON.stringify(await measureFleet()));
  } else {
    const { rows, result } = await measureFleet();
    for (const r of rows) console.log(`${r.measure}  ${r.value}  ${r.target}  ${r.ok ? 'met' : 'MISSED'}`);
    console.log(JSON.stringify(result));
  }
}
