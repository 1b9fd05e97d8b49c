/**
 * What one Prometheus scrape of the exporter costs with 8 GPUs and 50 processes (10 of them in
 * tasks or model servers): the HTTP GET of /metrics over loopback, end to end, and the rendering
 * alone (snapshot + text), each timed on its own; medians.
 */
import { request } from 'node:http';
import { startExporter } from '../src/core/exporter/exporter.ts';
import { parseListenAddress } from '../src/core/exporter/listen-address.ts';
import { ExporterMetrics } from '../src/core/exporter/exporter-metrics.ts';
import { emptyDevice, type GpuSample, type GpuSource } from '../src/core/gpu/types.ts';
import type { ProcessTable } from '../src/core/servers/process-tree.ts';
import type { Owner } from '../src/core/servers/server-registry.ts';
import { DEFAULT_THRESHOLDS } from '../src/core/watch/thresholds.ts';
import { Watcher } from '../src/core/watch/watcher.ts';
import { GiB, MiB } from '../test/helpers/fake-nvml.ts';

const GPUS = 8;
const PROCESSES = 50;
const OWNED = 10;

class EightGpuSource implements GpuSource {
  readonly kind = 'nvml' as const;
  readonly description = 'bench: 8 GPUs, 50 processes';
  async sample(timestamp: number): Promise<GpuSample> {
    const devices = Array.from({ length: GPUS }, (_, i) => {
      const d = emptyDevice(i);
      d.name = 'NVIDIA RTX 6000 Ada Generation';
      d.uuid = `GPU-bench000-0000-4000-8000-00000000000${i}`;
      d.memory = { total: 48 * GiB, used: (10 + i * 4) * GiB, free: (38 - i * 4) * GiB - 500 * MiB, reserved: 500 * MiB };
      return d;
    });
    for (let p = 0; p < PROCESSES; p++)
      devices[p % GPUS]!.processes.push({ pid: 10_000 + p, name: `/opt/models/bin/worker-${p}`, usedBytes: (200 + p * 10) * MiB, kind: 'compute' });
    return { source: 'nvml', timestamp, driverVersion: '550.54.14', sourceVersion: '12.550.54.14', devices };
  }
  async dispose(): Promise<void> {}
}

const table: ProcessTable = new Map(Array.from({ length: PROCESSES }, (_, p) => [10_000 + p, { pid: 10_000 + p, ppid: 1, name: `worker-${p}` }]));
const owners: Owner[] = Array.from({ length: OWNED }, (_, i) => ({ name: `task-${i}`, kind: 'task', rootPid: 10_000 + i * 5, baseUrl: null, gpu: null }));

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface ExporterScrapeResult {
  gpus: number;
  processes: number;
  scrapes: number;
  httpMedianMs: number;
  renderMedianMs: number;
  bytes: number;
  series: number;
  targetMs: number;
}

export async function measureExporterScrape(scrapes = 300): Promise<ExporterScrapeResult> {
  const watcher = new Watcher({
    openSource: async () => ({ ok: true, source: new EightGpuSource() }),
    thresholds: DEFAULT_THRESHOLDS,
    intervalMs: 3_600_000,
    adaptive: { enabled: false, fastIntervalMs: 3_600_000, calmIntervalMs: 3_600_000, margin: { kind: 'percent', percent: 5 } },
  });
  const address = parseListenAddress('127.0.0.1:0');
  if ('error' in address) throw new Error(address.error);
  const exporter = await startExporter({ watcher, hostname: 'bench-host', address, owners: () => owners, readProcessTable: async () => table });
  watcher.start();
  while (!watcher.latest) await new Promise((r) => setTimeout(r, 10));
  await exporter.feed.refresh();
  try {
    let bytes = 0;
    for (let i = 0; i < 30; i++) bytes = await get(exporter.url); // warm up
    const http: number[] = [];
    for (let i = 0; i < scrapes; i++) {
      const t0 = process.hrtime.bigint();
      await get(exporter.url);
      http.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const metrics = new ExporterMetrics();
    const render: number[] = [];
    let text = '';
    for (let i = 0; i < scrapes; i++) {
      const t0 = process.hrtime.bigint();
      text = await metrics.render(exporter.feed.snapshot());
      render.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
    return { gpus: GPUS, processes: PROCESSES, scrapes, httpMedianMs: median(http), renderMedianMs: median(render), bytes, series, targetMs: 5 };
  } finally {
    await exporter.close();
    await watcher.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await measureExporterScrape());
