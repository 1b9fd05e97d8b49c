/**
 * The exporter in process, over the real koffi path and the fake libnvidia-ml: what a scrape shows
 * (checked against the fake's state with an independent text-format parser), attribution from the
 * owners, and that a scrape never calls the driver (the fake's own call counters).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import koffi from 'koffi';
import { startExporter, type RunningExporter } from '../../../src/core/exporter/exporter.ts';
import { parseListenAddress } from '../../../src/core/exporter/listen-address.ts';
import { openNvml } from '../../../src/core/gpu/nvml-source.ts';
import { Watcher } from '../../../src/core/watch/watcher.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB, type FakeState } from '../../helpers/fake-nvml.ts';
import { pollUntil } from '../../helpers/servers.ts';
import { parsePrometheusText, seriesOf, oneValue } from '../../helpers/prom-text.ts';

const NVML_FUNCTIONS = [
  'nvmlDeviceGetCount_v2',
  'nvmlDeviceGetHandleByIndex_v2',
  'nvmlDeviceGetMemoryInfo',
  'nvmlDeviceGetMemoryInfo_v2',
  'nvmlDeviceGetUtilizationRates',
  'nvmlDeviceGetComputeRunningProcesses_v3',
  'nvmlDeviceGetGraphicsRunningProcesses_v3',
  'nvmlDeviceGetName',
  'nvmlDeviceGetUUID',
];

// A 12 GiB card: this test process holds 3000 MiB as the task "train-lora", a stranger 500 MiB,
// and 700 MiB belong to no process (the residual).
const STATE: FakeState = {
  driver: '550.54.14',
  devices: [
    {
      name: 'NVIDIA GeForce RTX 3060',
      uuid: 'GPU-30603060-aaaa-bbbb-cccc-ddddeeeeffff',
      total: 12 * GiB,
      used: 4200 * MiB,
      reserved: 220 * MiB,
      processes: [
        { pid: process.pid, used: 3000 * MiB, name: 'python3' },
        { pid: 999_999, used: 500 * MiB, name: 'blender' },
      ],
    },
  ],
};

describe('exporter (in process, fake NVML)', () => {
  let exporter: RunningExporter;
  let watcher: Watcher;
  let calls: () => number;

  before(async () => {
    const lib = await buildFakeNvml();
    const fake = await FakeNvmlState.create(STATE);
    process.env.FAKE_NVML_STATE = fake.path;
    const self = koffi.load(lib);
    const counter = self.func('unsigned int fake_nvml_calls(const char *name)');
    calls = () => NVML_FUNCTIONS.reduce((sum, fn) => sum + (counter(fn) as number), 0);
    // One sample, then none for an hour: every later driver call would come from a scrape.
    watcher = new Watcher({
      openSource: () => openNvml({ libraryPath: lib, platform: 'darwin' }),
      thresholds: {
        warning: { kind: 'percent', percent: 80 },
        critical: { kind: 'percent', percent: 90 },
        emergency: { kind: 'percent', percent: 95 },
        hysteresis: { kind: 'percent', percent: 2 },
      },
      intervalMs: 3_600_000,
      adaptive: { enabled: false, fastIntervalMs: 3_600_000, calmIntervalMs: 3_600_000, margin: { kind: 'percent', percent: 5 } },
    });
    const address = parseListenAddress('127.0.0.1:0');
    assert.ok(!('error' in address));
    exporter = await startExporter({
      watcher,
      hostname: 'unit-box',
      address,
      owners: () => [{ name: 'train-lora', kind: 'task', rootPid: process.pid, baseUrl: null, gpu: null }],
    });
    watcher.start();
    await pollUntil(() => watcher.latest, 'the first sample');
    await exporter.feed.refresh();
  });

  after(async () => {
    await exporter?.close();
    await watcher?.stop();
  });

  const scrape = async () => {
    const res = await fetch(exporter.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(await res.text());
  };

  it('a scrape reads the latest sample and never calls the driver', async () => {
    const before = calls();
    assert.ok(before > 0, 'the watcher sampled through the fake library');
    for (let i = 0; i < 20; i++) await scrape();
    assert.equal(calls(), before, 'twenty scrapes made no NVML call');
  });

  it('serves each GPU figure as the fake driver holds it, in bytes and in dcgm-exporter MiB', async () => {
    const m = await scrape();
    const gpu = { hostname: 'unit-box', gpu: '0', uuid: 'GPU-30603060-aaaa-bbbb-cccc-ddddeeeeffff', name: 'NVIDIA GeForce RTX 3060' };
    assert.equal(oneValue(m, 'vram_guard_gpu_memory_total_bytes', gpu), 12 * GiB);
    assert.equal(oneValue(m, 'vram_guard_gpu_memory_used_bytes', gpu), 4200 * MiB);
    assert.equal(oneValue(m, 'vram_guard_gpu_memory_reserved_bytes', gpu), 220 * MiB);
    assert.equal(oneValue(m, 'vram_guard_gpu_memory_free_bytes', gpu), (12 * 1024 - 4200 - 220) * MiB);
    // 4200 MiB of 12288 is 34 %: OK (0); the thresholds are 80/90/95 % of 12 GiB.
    assert.equal(oneValue(m, 'vram_guard_gpu_level', gpu), 0);
    assert.equal(oneValue(m, 'vram_guard_gpu_threshold_bytes', { ...gpu, level: 'critical' }), Math.round(0.9 * 12 * GiB));
    assert.equal(oneValue(m, 'vram_guard_gpu_residual_bytes', gpu), 700 * MiB);
    const dcgm = { gpu: '0', UUID: gpu.uuid, device: 'nvidia0', modelName: gpu.name, Hostname: 'unit-box', DCGM_FI_DRIVER_VERSION: '550.54.14' };
    assert.equal(oneValue(m, 'DCGM_FI_DEV_FB_USED', dcgm), 4200);
    assert.equal(oneValue(m, 'DCGM_FI_DEV_FB_FREE', dcgm), 12 * 1024 - 4200 - 220);
    assert.equal(oneValue(m, 'DCGM_FI_DEV_FB_RESERVED', dcgm), 220);
    assert.equal(oneValue(m, 'vram_guard_source_up', { hostname: 'unit-box', source: 'nvml' }), 1);
    assert.equal(oneValue(m, 'vram_guard_sample_errors_total', { hostname: 'unit-box' }), 0);
  });

  it('names the task that holds a process, and leaves a stranger unnamed', async () => {
    const m = await scrape();
    const mine = seriesOf(m, 'vram_guard_process_memory_used_bytes', { pid: String(process.pid) });
    assert.deepEqual(
      mine.map((s) => [s.value, s.labels.task, s.labels.server ?? '', s.labels.process]),
      [[3000 * MiB, 'train-lora', '', 'python3']],
    );
    const stranger = seriesOf(m, 'vram_guard_process_memory_used_bytes', { pid: '999999' });
    assert.deepEqual(
      stranger.map((s) => [s.value, s.labels.task ?? '', s.labels.process]),
      [[500 * MiB, '', 'blender']],
    );
    assert.equal(oneValue(m, 'vram_guard_task_memory_used_bytes', { task: 'train-lora', gpu: '0' }), 3000 * MiB);
  });

  it('answers only /metrics: other paths 404, other methods 405', async () => {
    assert.equal((await fetch(exporter.url.replace('/metrics', '/nope'))).status, 404);
    assert.equal((await fetch(exporter.url, { method: 'POST', body: 'x' })).status, 405);
    assert.equal((await fetch(exporter.url.replace('/metrics', '/'))).status, 200);
  });
});

describe('listen addresses', () => {
  it('a bare port and localhost stay on this machine; every interface must be written out', () => {
    assert.deepEqual(parseListenAddress('9835'), { host: '127.0.0.1', port: 9835, loopback: true });
    assert.deepEqual(parseListenAddress('localhost:9900'), { host: 'localhost', port: 9900, loopback: true });
    assert.deepEqual(parseListenAddress('[::1]:9835'), { host: '::1', port: 9835, loopback: true });
    assert.deepEqual(parseListenAddress('0.0.0.0:9835'), { host: '0.0.0.0', port: 9835, loopback: false });
    assert.deepEqual(parseListenAddress('[::]:9835'), { host: '::', port: 9835, loopback: false });
    assert.deepEqual(parseListenAddress('192.168.1.20:9835'), { host: '192.168.1.20', port: 9835, loopback: false });
  });
});
