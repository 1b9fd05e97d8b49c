/** The NVML source through the real koffi path, against the fake libnvidia-ml built from C. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import koffi from 'koffi';
import { openNvml, type NvmlSource } from '../../../src/core/gpu/nvml-source.ts';
import { nvmlLibraryCandidates } from '../../../src/core/gpu/nvml-library.ts';
import { EventLoopLag } from '../../helpers/event-loop-lag.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB, type FakeState, type FakeVariant } from '../../helpers/fake-nvml.ts';

const rtx3070 = (over: Partial<FakeState['devices'][number]> = {}): FakeState['devices'][number] => ({
  name: 'NVIDIA GeForce RTX 3070',
  uuid: 'GPU-11111111-2222-3333-4444-555555555555',
  total: 8 * GiB,
  used: 5418 * MiB,
  reserved: 312 * MiB,
  utilGpu: 66,
  utilMem: 41,
  temp: 61,
  powerMw: 142_500,
  persistence: 1,
  processes: [
    { pid: 4242, kind: 'compute', used: 2838 * MiB, name: '/usr/local/bin/ollama' },
    { pid: 4343, kind: 'both', used: 1116 * MiB, name: 'python3' },
  ],
  ...over,
});

const libs = new Map<FakeVariant, string>();
async function open(variant: FakeVariant, state: FakeState): Promise<{ source: NvmlSource; fake: FakeNvmlState; calls: (fn: string) => number }> {
  const lib = libs.get(variant) ?? (await buildFakeNvml(variant));
  libs.set(variant, lib);
  const fake = await FakeNvmlState.create(state);
  process.env.FAKE_NVML_STATE = fake.path;
  const self = koffi.load(lib);
  self.func('void fake_nvml_reset_calls(void)')();
  const counter = self.func('unsigned int fake_nvml_calls(const char *name)');
  const result = await openNvml({ libraryPath: lib, platform: 'darwin' });
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return { source: result.source, fake, calls: (fn) => counter(fn) as number };
}

describe('NVML source (koffi + fake libnvidia-ml)', () => {
  before(async () => {
    for (const v of ['current', 'no-v3', 'no-v2', 'no-memory-v2', 'oldest'] as const) libs.set(v, await buildFakeNvml(v));
  });

  it('reports exactly what the library holds', async () => {
    const { source, calls } = await open('current', { driver: '550.54.14', nvmlVersion: '12.550.54.14', devices: [rtx3070()] });
    const sample = await source.sample(1000);
    assert.equal(sample.source, 'nvml');
    assert.equal(sample.timestamp, 1000);
    assert.equal(sample.driverVersion, '550.54.14');
    assert.equal(sample.sourceVersion, '12.550.54.14');
    const [d] = sample.devices;
    assert.ok(d);
    assert.equal(d.index, 0);
    assert.equal(d.name, 'NVIDIA GeForce RTX 3070');
    assert.equal(d.uuid, 'GPU-11111111-2222-3333-4444-555555555555');
    assert.deepEqual(d.memory, { total: 8 * GiB, used: 5418 * MiB, reserved: 312 * MiB, free: 8 * GiB - 5418 * MiB - 312 * MiB });
    assert.deepEqual(d.utilization, { gpu: 66, memory: 41 });
    assert.equal(d.temperatureC, 61);
    assert.equal(d.powerW, 142.5);
    assert.equal(d.persistenceMode, true);
    assert.equal(d.error, null);
    assert.deepEqual(
      d.processes.map((p) => [p.pid, p.name, p.usedBytes, p.kind]),
      [
        [4242, '/usr/local/bin/ollama', 2838 * MiB, 'compute'],
        [4343, 'python3', 1116 * MiB, 'compute+graphics'],
      ],
    );
    // The v2 memory call was answered, so the version word was right (the fake rejects any other).
    assert.ok(calls('nvmlDeviceGetMemoryInfo_v2') > 0);
    assert.equal(calls('nvmlDeviceGetMemoryInfo'), 0);
    assert.ok(calls('nvmlDeviceGetComputeRunningProcesses_v3') > 0);
    await source.dispose();
    assert.equal(calls('nvmlShutdown'), 1);
  });

  it('names a process from /proc when NVML does not know it', async () => {
    const { source } = await open('current', { devices: [rtx3070({ processes: [{ pid: process.pid, used: 100 * MiB }] })] });
    const [d] = (await source.sample(0)).devices;
    assert.match(d?.processes[0]?.name ?? '', /node/);
    await source.dispose();
  });

  it('shows "not available" process memory as null, never a number', async () => {
    const { source } = await open('current', { devices: [rtx3070({ processes: [{ pid: 77, used: 'na', name: 'wsl-app' }] })] });
    const [d] = (await source.sample(0)).devices;
    assert.equal(d?.processes[0]?.usedBytes, null);
    await source.dispose();
  });

  it('reads 32-byte entries from drivers 535.43–535.86 with the right stride', async () => {
    const processes = [1, 2, 3].map((i) => ({ pid: 1000 + i, used: i * 100 * MiB, name: `p${i}` }));
    const { source } = await open('current', { procStride: 32, devices: [rtx3070({ processes })] });
    const [d] = (await source.sample(0)).devices;
    assert.deepEqual(
      d?.processes.map((p) => [p.pid, p.usedBytes]),
      [
        [1001, 100 * MiB],
        [1002, 200 * MiB],
        [1003, 300 * MiB],
      ],
    );
    await source.dispose();
  });

  it('retries when the process count grows between the count query and the fetch', async () => {
    const { source, calls } = await open('current', { procGrow: 20, devices: [rtx3070()] });
    const [d] = (await source.sample(0)).devices;
    assert.equal(d?.processes.length, 22);
    assert.ok(d?.processes.some((p) => p.pid === 90019));
    assert.ok(calls('nvmlDeviceGetComputeRunningProcesses_v3') >= 3, 'count query, short fetch, retry');
    await source.dispose();
  });

  it('reports a lost GPU on that device; the other goes on, and it is noticed when it comes back', async () => {
    const state: FakeState = { devices: [rtx3070(), rtx3070({ uuid: 'GPU-second', rc: 15 })] };
    const { source, fake } = await open('current', state);
    const first = await source.sample(0);
    assert.equal(first.devices.length, 2);
    assert.equal(first.devices[0]?.error, null);
    assert.equal(first.devices[0]?.memory?.used, 5418 * MiB);
    assert.equal(first.devices[1]?.error?.code, 'GPU_IS_LOST');
    assert.match(first.devices[1]?.error?.message ?? '', /GPU is lost/);
    assert.equal(first.devices[1]?.memory, null);
    await fake.write({ devices: [rtx3070(), rtx3070({ uuid: 'GPU-second' })] });
    const again = await source.sample(1);
    assert.equal(again.devices[1]?.error, null);
    assert.equal(again.devices[1]?.memory?.total, 8 * GiB);
    await source.dispose();
  });

  it('reports NO_PERMISSION on the device it concerns', async () => {
    const { source } = await open('current', { devices: [rtx3070({ handleRc: 4 }), rtx3070()] });
    const s = await source.sample(0);
    assert.equal(s.devices[0]?.error?.code, 'NO_PERMISSION');
    assert.equal(s.devices[0]?.memory, null);
    assert.equal(s.devices[1]?.error, null);
    await source.dispose();
  });

  it('leaves fields the GPU does not support as null, without an error', async () => {
    const { source } = await open('current', {
      devices: [rtx3070({ unsupported: ['util', 'temp', 'power', 'persistence', 'graphics'] })],
    });
    const [d] = (await source.sample(0)).devices;
    assert.equal(d?.error, null);
    assert.deepEqual(d?.utilization, { gpu: null, memory: null });
    assert.equal(d?.temperatureC, null);
    assert.equal(d?.powerW, null);
    assert.equal(d?.persistenceMode, null);
    assert.equal(d?.processes.length, 2);
    await source.dispose();
  });

  it('falls back to _v2 process calls on a driver without _v3', async () => {
    const { source, calls } = await open('no-v3', { devices: [rtx3070()] });
    const [d] = (await source.sample(0)).devices;
    assert.equal(d?.processes.length, 2);
    assert.ok(calls('nvmlDeviceGetComputeRunningProcesses_v2') > 0);
    await source.dispose();
  });

  it('falls back to v1 process and memory calls on the oldest drivers (used then includes reserved)', async () => {
    const { source, calls } = await open('oldest', { devices: [rtx3070()] });
    const [d] = (await source.sample(0)).devices;
    assert.deepEqual(d?.memory, { total: 8 * GiB, used: (5418 + 312) * MiB, free: 8 * GiB - (5418 + 312) * MiB, reserved: null });
    assert.deepEqual(
      d?.processes.map((p) => [p.pid, p.usedBytes]),
      [
        [4242, 2838 * MiB],
        [4343, 1116 * MiB],
      ],
    );
    assert.ok(calls('nvmlDeviceGetComputeRunningProcesses') > 0);
    assert.ok(calls('nvmlDeviceGetMemoryInfo') > 0);
    await source.dispose();
  });

  it('falls back to v1 memory when _v2 answers a version mismatch', async () => {
    const { source, calls } = await open('current', { devices: [rtx3070({ memoryV2Rc: 25 })] });
    const [d] = (await source.sample(0)).devices;
    assert.equal(d?.memory?.reserved, null);
    assert.equal(d?.memory?.used, (5418 + 312) * MiB);
    await source.sample(1);
    assert.equal(calls('nvmlDeviceGetMemoryInfo_v2'), 1, 'v2 is not asked again');
    await source.dispose();
  });

  it('says "no NVML" with the reason when init fails', async () => {
    const lib = libs.get('current')!;
    const fake = await FakeNvmlState.create({ initRc: 9, devices: [rtx3070()] });
    process.env.FAKE_NVML_STATE = fake.path;
    const result = await openNvml({ libraryPath: lib, platform: 'darwin' });
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /nvmlInit failed with DRIVER_NOT_LOADED \(Driver Not Loaded\)/);
  });

  it('says "no NVML" with every path it tried when no library loads', async () => {
    const result = await openNvml({ libraryPath: '/nonexistent/libnvidia-ml.so.1', env: { VRAM_GUARD_NVML_LIBRARY: '/also/missing.so' }, platform: 'darwin' });
    assert.equal(result.ok, false);
    const reason = result.ok ? '' : result.reason;
    assert.match(reason, /\/nonexistent\/libnvidia-ml\.so\.1 \(setting\)/);
    assert.match(reason, /\/also\/missing\.so \(environment\)/);
  });

  it('says "FFI unavailable" when koffi cannot load', async () => {
    const result = await openNvml({
      libraryPath: libs.get('current'),
      loadKoffi: async () => {
        throw new Error('Cannot find the native Koffi module');
      },
    });
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /FFI unavailable.*Cannot find the native Koffi module/);
  });

  it('initialises off the main thread: timers keep firing during a slow init', async () => {
    const lib = libs.get('current')!;
    const fake = await FakeNvmlState.create({ initDelayMs: 1000, devices: [rtx3070()] });
    process.env.FAKE_NVML_STATE = fake.path;
    // The longest gap between a 20 ms timer's firings: an init on this thread would stop it for the
    // whole second; a count of firings would instead depend on how loaded the machine is.
    const lag = new EventLoopLag(20);
    const result = await openNvml({ libraryPath: lib, platform: 'darwin' });
    const { wallMs } = lag.stop();
    assert.ok(result.ok);
    assert.ok(wallMs < 500, `the event loop stood still for ${Math.round(wallMs)} ms during a 1 s init`);
    await result.source.dispose();
  });

  it('lists processes on a budget: on a 64 MiB move, after the interval, or when asked; memory at every sample', async () => {
    const { source, fake, calls } = await open('current', { devices: [rtx3070()] });
    const listings = () => calls('listing:compute');
    const budget = { processes: 'budget' as const, processListIntervalMs: 5000 };
    await source.sample(0, budget);
    assert.equal(listings(), 1, 'the first sample lists');
    await source.sample(1000, budget);
    const steady = await source.sample(2000, budget);
    assert.equal(listings(), 1, 'steady memory: the list is not read again within 5 s');
    assert.deepEqual(
      steady.devices[0]?.processes.map((p) => p.pid),
      [4242, 4343],
      'the last list is repeated',
    );
    assert.equal(calls('nvmlDeviceGetMemoryInfo_v2'), 3, 'memory is read at every sample');

    await fake.write({ devices: [rtx3070({ used: (5418 + 63) * MiB })] });
    await source.sample(3000, budget);
    assert.equal(listings(), 1, 'a 63 MiB move is below the step');
    await fake.write({ devices: [rtx3070({ used: (5418 + 64) * MiB })] });
    await source.sample(3500, budget);
    assert.equal(listings(), 2, 'a 64 MiB move lists again');
    await source.sample(8500, budget);
    assert.equal(listings(), 3, '5 s after the last list');
    await source.sample(8600, { processes: 'now' });
    assert.equal(listings(), 4, 'a view asked for them');
    await source.dispose();
  });

  it('searches the setting, then VRAM_GUARD_NVML_LIBRARY, then the platform defaults', () => {
    assert.deepEqual(
      nvmlLibraryCandidates({ settingPath: '/opt/a.so', env: { VRAM_GUARD_NVML_LIBRARY: '/opt/b.so' }, platform: 'linux' }).map((c) => [c.path, c.from]),
      [
        ['/opt/a.so', 'setting'],
        ['/opt/b.so', 'environment'],
        ['libnvidia-ml.so.1', 'default'],
        ['/usr/lib/wsl/lib/libnvidia-ml.so.1', 'default'],
      ],
    );
    assert.deepEqual(
      nvmlLibraryCandidates({ env: { WINDIR: 'C:\\Windows', ProgramW6432: 'C:\\Program Files' }, platform: 'win32' }).map((c) => c.path),
      ['C:\\Windows\\System32\\nvml.dll', 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvml.dll'],
    );
    assert.deepEqual(nvmlLibraryCandidates({ env: {}, platform: 'darwin' }), []);
  });
});
