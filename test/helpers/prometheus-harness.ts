/**
 * A real fleet for tests: Debian's Prometheus (/usr/bin/prometheus) on loopback, with a generated
 * config under a temporary folder and a 1 s scrape interval, scraping two `vram-guard exporter`
 * processes (the built dist/cli.cjs) over two fake-NVML states — one with an emulated llama-server
 * task attributed through the servers file — and one emulated dcgm-exporter. Every process is
 * started in its own process group and stopped by PID, also when a test fails or the process exits.
 * The API is described in docs beside the worktree (exporter-harness.md) and in `FleetHarness`.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAllNow, startGroup, stopGroup, waitForHttp, type Started } from '../../scripts/vscode/processes.ts';
import { serversFilePath, writeServersFile } from '../../src/core/exporter/servers-file.ts';
import { DGX_A100, GPU_DESK, GPU_LAB, type ExporterMachine } from './fleet-machines.ts';
import type { DcgmHost } from '../fixtures/dcgm-exporter/dcgm-exporter.ts';
import { buildFakeNvml, FakeNvmlState, parseFakeState, repoRoot, type FakeState } from './fake-nvml.ts';
import { emulatorCommand, freePort, pollUntil } from './servers.ts';
import { readFile } from 'node:fs/promises';

export const PROMETHEUS = process.env.VRAM_GUARD_PROMETHEUS ?? '/usr/bin/prometheus';
export const PROMTOOL = process.env.VRAM_GUARD_PROMTOOL ?? '/usr/bin/promtool';
const CLI = join(repoRoot, 'dist', 'cli.cjs');
const DCGM_EMULATOR = join(repoRoot, 'test', 'fixtures', 'dcgm-exporter', 'dcgm-exporter.ts');

/** Throws, saying how to install it, when Debian's Prometheus (with promtool) is missing. */
export function requirePrometheus(): void {
  for (const tool of [PROMETHEUS, PROMTOOL]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: install Prometheus and promtool with "apt-get install prometheus" (Debian's package)`);
  }
}

/** Throws when the CLI has not been built. */
export function requireBuiltCli(): string {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  return CLI;
}

export interface RunningExporterHost {
  hostname: string;
  /** `127.0.0.1:PORT`, the Prometheus target. */
  target: string;
  /** `http://127.0.0.1:PORT/metrics` */
  metricsUrl: string;
  pid: number;
  /** The fake NVML state file it reads; `readState()` gives the truth to compare with. */
  nvml: FakeNvmlState;
  readState(): Promise<FakeState>;
  /** The servers folder it names tasks from (one `<writer pid>.json` per VS Code window). */
  serversDir: string;
  /** The attributed model server, when the machine has one. */
  server: { name: string; kind: string; pid: number; baseUrl: string } | null;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  /** Stops this exporter (its host turns stale in Prometheus); idempotent. */
  stop(): Promise<void>;
}

export interface RunningDcgmHost {
  hostname: string;
  target: string;
  metricsUrl: string;
  pid: number;
  host: DcgmHost;
  stop(): Promise<void>;
}

export interface FleetHarness {
  /** `http://127.0.0.1:PORT`, Prometheus's base URL (its HTTP API is under /api/v1). */
  prometheusUrl: string;
  /** The temporary folder: prometheus.yml, the TSDB, the fake states, servers files. */
  dir: string;
  /** gpu-desk (with the llama-chat task) and gpu-lab. */
  exporters: RunningExporterHost[];
  /** dgx-a100. */
  dcgm: RunningDcgmHost;
  exporter(hostname: string): RunningExporterHost;
  /** An instant query: the result vector (throws on an API error). */
  query(promql: string): Promise<PromSample[]>;
  /** Polls `query` until `accept` is true for the result, or throws with the last result. */
  waitFor(promql: string, accept: (result: PromSample[]) => boolean, what: string, timeoutMs?: number): Promise<PromSample[]>;
  /** Stops everything (exporters, servers, the dcgm endpoint, Prometheus) and removes the folder. */
  stop(): Promise<void>;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface FleetOptions {
  /** Scrape interval in seconds (default 1). */
  scrapeIntervalSeconds?: number;
  /** More Prometheus flags (e.g. --web.config.file). */
  prometheusArgs?: string[];
  /** Exporter sampling interval in ms (default 250, fixed rate). */
  exporterIntervalMs?: number;
  /** More scrape targets (`127.0.0.1:PORT`, serving `/metrics`), e.g. pages a test serves itself, in a job of their own. */
  extraTargets?: string[];
}

/** Starts the fleet and waits until Prometheus has scraped every target once. */
export async function startFleet(options: FleetOptions = {}): Promise<FleetHarness> {
  requirePrometheus();
  requireBuiltCli();
  process.once('exit', killAllNow);
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-fleet-'));
  const started: Started[] = [];
  const stopAllStarted = async () => {
    await Promise.all([...started].reverse().map((s) => stopGroup(s, 3000)));
  };
  try {
    const lib = await buildFakeNvml();
    const exporters = [await startExporterHost(GPU_DESK, dir, lib, started, options), await startExporterHost(GPU_LAB, dir, lib, started, options)];
    const dcgm = await startDcgmHost(DGX_A100, dir, started);
    const promPort = await freePort();
    const interval = options.scrapeIntervalSeconds ?? 1;
    const config = [
      'global:',
      `  scrape_interval: ${interval}s`,
      `  scrape_timeout: ${Math.max(500, Math.round(interval * 800))}ms`,
      `  evaluation_interval: ${interval}s`,
      'scrape_configs:',
      '  - job_name: vram-guard',
      '    static_configs:',
      `      - targets: [${exporters.map((e) => `'${e.target}'`).join(', ')}]`,
      '  - job_name: dcgm',
      '    static_configs:',
      `      - targets: ['${dcgm.target}']`,
      ...(options.extraTargets?.length
        ? ['  - job_name: extra', '    static_configs:', `      - targets: [${options.extraTargets.map((t) => `'${t}'`).join(', ')}]`]
        : []),
      '',
    ].join('\n');
    await writeFile(join(dir, 'prometheus.yml'), config);
    const prometheus = startGroup('prometheus', PROMETHEUS, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
      ...(options.prometheusArgs ?? []),
    ]);
    started.push(prometheus);
    let promLog = '';
    prometheus.child.stderr?.on('data', (b: Buffer) => (promLog = (promLog + b.toString()).slice(-4000)));
    const prometheusUrl = `http://127.0.0.1:${promPort}`;
    try {
      await waitForHttp(`${prometheusUrl}/-/ready`, 30_000, prometheus);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nPrometheus said:\n${promLog}`);
    }
    const query = async (promql: string): Promise<PromSample[]> => {
      const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { status: string; data?: { resultType: string; result: PromSample[] }; error?: string };
      if (body.status !== 'success' || !body.data) throw new Error(`Prometheus query ${promql} failed: ${body.error ?? res.status}`);
      return body.data.result;
    };
    const waitFor = async (promql: string, accept: (r: PromSample[]) => boolean, what: string, timeoutMs = 20_000) => {
      let last: PromSample[] = [];
      try {
        return await pollUntil(
          async () => {
            last = await query(promql);
            return accept(last) ? last : null;
          },
          what,
          timeoutMs,
          250,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}; last result of ${promql}: ${JSON.stringify(last)}`);
      }
    };
    const targets = exporters.length + 1 + (options.extraTargets?.length ?? 0);
    await waitFor('up', (r) => r.length === targets && r.every((s) => s.value[1] === '1'), `Prometheus to scrape all ${targets} targets`);
    // Each exporter's first sample, and the attributed tasks (named once the exporter has read the servers file).
    await waitFor(
      'count by (hostname) (vram_guard_gpu_memory_used_bytes)',
      (r) => exporters.every((e) => r.some((x) => x.metric.hostname === e.hostname)),
      'a sample from every exporter in Prometheus',
    );
    const attributed = exporters.filter((e) => e.server).map((e) => e.hostname);
    await waitFor(
      'count by (hostname) (vram_guard_process_memory_used_bytes{task!=""})',
      (r) => attributed.every((h) => r.some((s) => s.metric.hostname === h)),
      'the attributed tasks in Prometheus',
    );
    return {
      prometheusUrl,
      dir,
      exporters,
      dcgm,
      exporter: (hostname) => {
        const found = exporters.find((e) => e.hostname === hostname);
        if (!found) throw new Error(`no exporter host ${hostname}; there are ${exporters.map((e) => e.hostname).join(', ')}`);
        return found;
      },
      query,
      waitFor,
      stop: async () => {
        await stopAllStarted();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAllStarted();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startExporterHost(machine: ExporterMachine, dir: string, lib: string, started: Started[], options: FleetOptions): Promise<RunningExporterHost> {
  const nvml = await FakeNvmlState.create(machine.state);
  const serversDir = join(dir, `${machine.hostname}.servers`);
  let server: RunningExporterHost['server'] = null;
  if (machine.server) {
    const port = await freePort();
    const [node, script] = emulatorCommand(machine.server.kind);
    const s = startGroup(machine.server.name, node!, [script!, ...machine.server.args, '--port', String(port)], {
      env: { ...process.env, FAKE_NVML_STATE: nvml.path },
    });
    started.push(s);
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${baseUrl}/health`, 15_000, s);
    await pollUntil(async () => (await fetch(`${baseUrl}/health`)).status === 200, `${machine.server.name} to load`, 15_000, 50);
    server = { name: machine.server.name, kind: machine.server.kind, pid: s.pid, baseUrl };
    // What the extension writes when it runs the task: the exporter names the process from it.
    await mkdir(serversDir, { recursive: true });
    await writeServersFile(serversFilePath(serversDir), [
      { name: server.name, kind: machine.server.kind, rootPid: s.pid, baseUrl, gpu: 0, expectedBytes: null },
    ]);
  }
  const {
    started: exporter,
    url,
    output,
  } = await startCliExporter(
    `exporter ${machine.hostname}`,
    [
      '--listen',
      '127.0.0.1:0',
      '--hostname',
      machine.hostname,
      '--source',
      'nvml',
      '--nvml-library',
      lib,
      '--servers-dir',
      serversDir,
      '--interval',
      String(options.exporterIntervalMs ?? 250),
      '--fixed-rate',
    ],
    { ...process.env, FAKE_NVML_STATE: nvml.path },
  );
  started.push(exporter);
  const target = new URL(url).host;
  let stopped = false;
  return {
    hostname: machine.hostname,
    target,
    metricsUrl: url,
    pid: exporter.pid,
    nvml,
    readState: async () => parseFakeState(await readFile(nvml.path, 'utf8')),
    serversDir,
    server,
    output,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stopGroup(exporter, 3000);
    },
  };
}

/**
 * Starts `vram-guard exporter ARGS` (the built CLI) in its own process group and waits for its
 * "serving URL" line; throws with its output when it exits first. Stop it with `stopGroup`.
 */
export async function startCliExporter(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ started: Started; url: string; output: () => string }> {
  const exporter = startGroup(name, process.execPath, [requireBuiltCli(), 'exporter', ...args], { env });
  let output = '';
  exporter.child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  exporter.child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  let exitedWith: number | string | null = null;
  void exporter.exited.then((code) => (exitedWith = code));
  try {
    const url = await pollUntil(
      () => {
        if (exitedWith !== null) throw new Error(`${name} exited (${String(exitedWith)}): ${output}`);
        return /serving (http:\/\/\S+\/metrics)/.exec(output)?.[1];
      },
      `${name} to listen`,
      15_000,
      50,
    );
    return { started: exporter, url, output: () => output };
  } catch (err) {
    await stopGroup(exporter, 1000);
    throw err;
  }
}

async function startDcgmHost(host: DcgmHost, dir: string, started: Started[]): Promise<RunningDcgmHost> {
  const gpus = join(dir, `${host.hostname}.dcgm.json`);
  await writeFile(gpus, JSON.stringify(host));
  const port = await freePort();
  const s = startGroup('dcgm-exporter (emulated)', process.execPath, [DCGM_EMULATOR, '--port', String(port), '--gpus', gpus]);
  started.push(s);
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  await waitForHttp(metricsUrl, 15_000, s);
  let stopped = false;
  return {
    hostname: host.hostname,
    target: `127.0.0.1:${port}`,
    metricsUrl,
    pid: s.pid,
    host,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stopGroup(s, 3000);
    },
  };
}
