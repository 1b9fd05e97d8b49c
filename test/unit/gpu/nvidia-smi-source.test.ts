/** The nvidia-smi source, run against stand-in nvidia-smi scripts in test/fixtures/nvidia-smi. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MiB, type SmiGpuRow } from '../../../src/core/gpu/nvidia-smi-parse.ts';
import { openNvidiaSmi, toDevice, type NvidiaSmiSource } from '../../../src/core/gpu/nvidia-smi-source.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/nvidia-smi/', import.meta.url));
const fixture = (name: string): string => join(fixtures, name);

const GPU_QUERY =
  '--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,memory.reserved,utilization.gpu,utilization.memory,temperature.gpu,power.draw,persistence_mode,driver_version --format=csv,noheader,nounits';
const GPU_QUERY_OLD =
  '--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory,temperature.gpu,power.draw,persistence_mode,driver_version --format=csv,noheader,nounits';
const APPS_QUERY = '--query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv,noheader,nounits';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-nvidia-smi-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
function tempFile(name: string): string {
  return join(dir, `${++fileCount}-${name}`);
}

async function callsIn(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '');
}

async function open(name: string, env: NodeJS.ProcessEnv = {}, logs: string[] = []): Promise<NvidiaSmiSource> {
  const result = await openNvidiaSmi({ executable: fixture(name), env: { ...process.env, ...env }, log: (m) => logs.push(m) });
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return result.source;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('nvidia-smi source', () => {
  it('reports an RTX 3070 with its five compute processes exactly as nvidia-smi prints them', async () => {
    const calls = tempFile('calls');
    const source = await open('nvidia-smi', { FAKE_NVIDIA_SMI_CALLS: calls });
    assert.equal(source.kind, 'nvidia-smi');
    assert.equal(source.description, `nvidia-smi (${fixture('nvidia-smi')}), driver 550.54.14`);

    const sample = await source.sample(1234);
    assert.equal(sample.source, 'nvidia-smi');
    assert.equal(sample.timestamp, 1234);
    assert.equal(sample.driverVersion, '550.54.14');
    assert.equal(sample.sourceVersion, null);
    assert.equal(sample.devices.length, 1);
    const [d] = sample.devices;
    assert.ok(d);
    assert.equal(d.index, 0);
    assert.equal(d.name, 'NVIDIA GeForce RTX 3070');
    assert.equal(d.uuid, 'GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13');
    assert.deepEqual(d.memory, { total: 8192 * MiB, used: 5590 * MiB, free: 2290 * MiB, reserved: 312 * MiB });
    assert.equal(d.memory?.total, 8_589_934_592);
    assert.deepEqual(d.utilization, { gpu: 66, memory: 41 });
    assert.equal(d.temperatureC, 61);
    assert.equal(d.powerW, 142.53);
    assert.equal(d.persistenceMode, true);
    assert.equal(d.error, null);
    assert.deepEqual(
      d.processes.map((p) => [p.pid, p.name, p.usedBytes, p.kind]),
      [
        [4242, '/usr/local/bin/ollama', 2838 * MiB, 'compute'],
        [5120, '/opt/llama.cpp/build/bin/llama-server', 1650 * MiB, 'compute'],
        [6001, '/home/dev/venvs/whisper/bin/python3', 612 * MiB, 'compute'],
        [6107, '/home/dev/models/tts,v2/bin/piper-server', 180 * MiB, 'compute'],
        [7311, '/usr/bin/python3.12', 96 * MiB, 'compute'],
      ],
    );

    // One run to open, one to sample: each runs the two queries with exactly these arguments.
    const lines = await callsIn(calls);
    assert.equal(lines.length, 4);
    assert.deepEqual([...lines].sort(), [APPS_QUERY, APPS_QUERY, GPU_QUERY, GPU_QUERY]);
    await source.dispose();
    await assert.rejects(source.sample(1300), /nvidia-smi source is closed/);
  });

  it('gives null for [N/A] and [Not Supported] fields, and puts unreadable memory on that GPU alone', async () => {
    const source = await open('nvidia-smi-unsupported-fields', { FAKE_NVIDIA_SMI_PID: String(process.pid) });
    const sample = await source.sample(2000);
    assert.equal(sample.driverVersion, '535.183.01');
    assert.equal(sample.devices.length, 2);
    const [a, b] = sample.devices;
    assert.ok(a && b);

    assert.equal(a.index, 0);
    assert.equal(a.name, 'NVIDIA GeForce RTX 3060');
    assert.deepEqual(a.memory, { total: 12288 * MiB, used: 10240 * MiB, free: 2048 * MiB, reserved: null });
    assert.deepEqual(a.utilization, { gpu: 97, memory: null });
    assert.equal(a.temperatureC, 74);
    assert.equal(a.powerW, null);
    assert.equal(a.persistenceMode, null);
    assert.equal(a.error, null, 'fields that are not supported are not an error');
    assert.deepEqual(
      a.processes.map((p) => [p.pid, p.name, p.usedBytes, p.kind]),
      [
        [3130, '/usr/bin/llama-server', null, 'compute'],
        // nvidia-smi could not read the name: it comes from /proc instead.
        [process.pid, process.argv0, 9216 * MiB, 'compute'],
      ],
    );

    assert.equal(b.index, 1);
    assert.equal(b.name, 'NVIDIA GeForce GTX 1650');
    assert.equal(b.uuid, 'GPU-f5e4d3c2-b1a0-9f8e-7d6c-5b4a3f2e1d0c');
    assert.equal(b.memory, null);
    assert.deepEqual(b.utilization, { gpu: null, memory: null });
    assert.equal(b.temperatureC, null);
    assert.equal(b.powerW, null);
    assert.equal(b.persistenceMode, false);
    assert.deepEqual(b.processes, []);
    assert.deepEqual(b.error, { code: 'UNKNOWN', message: 'memory.total: nvidia-smi reported [Unknown Error]' });
    await source.dispose();
  });

  it('retries once without memory.reserved on an older nvidia-smi, and remembers', async () => {
    const calls = tempFile('calls');
    const logs: string[] = [];
    const source = await open('nvidia-smi-no-reserved-field', { FAKE_NVIDIA_SMI_CALLS: calls }, logs);
    assert.ok(
      logs.some((m) => m.includes('does not know memory.reserved')),
      logs.join('\n'),
    );
    assert.equal(source.description, `nvidia-smi (${fixture('nvidia-smi-no-reserved-field')}), driver 470.223.02, no reserved-memory field`);

    const sample = await source.sample(3000);
    assert.equal(sample.driverVersion, '470.223.02');
    const [d] = sample.devices;
    assert.ok(d);
    assert.equal(d.name, 'NVIDIA GeForce GTX 1080');
    assert.deepEqual(d.memory, { total: 8119 * MiB, used: 3411 * MiB, free: 4708 * MiB, reserved: null });
    assert.equal(d.powerW, 61.27);
    assert.equal(d.persistenceMode, false);
    assert.equal(d.error, null);
    assert.deepEqual(
      d.processes.map((p) => [p.pid, p.name, p.usedBytes]),
      [[2718, '/usr/local/bin/ollama', 3296 * MiB]],
    );

    const gpuCalls = (await callsIn(calls)).filter((l) => l.startsWith('--query-gpu='));
    assert.deepEqual(gpuCalls, [GPU_QUERY, GPU_QUERY_OLD, GPU_QUERY_OLD], 'the full query is tried once, then never again');
    await source.dispose();
  });

  it('says what nvidia-smi said when it exits non-zero (driver not loaded)', async () => {
    const exe = fixture('nvidia-smi-driver-error');
    const result = await openNvidiaSmi({ executable: exe });
    assert.deepEqual(result, {
      ok: false,
      reason: `${exe} exited with code 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.`,
    });
  });

  it('says nvidia-smi is not on PATH, and that it ships with the driver', async () => {
    const result = await openNvidiaSmi({ env: { PATH: dir } });
    assert.deepEqual(result, {
      ok: false,
      reason: 'nvidia-smi was not found on PATH. It ships with the NVIDIA driver: install the driver, or give the full path to nvidia-smi.',
    });
    const missing = join(dir, 'no-such-nvidia-smi');
    const byPath = await openNvidiaSmi({ executable: missing });
    assert.equal(byPath.ok, false);
    assert.match(
      byPath.ok ? '' : byPath.reason,
      new RegExp(`^nvidia-smi was not found at ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\. It ships with the NVIDIA driver`),
    );
  });

  it('kills an nvidia-smi that hangs (even one that ignores SIGTERM) and returns at the timeout', async () => {
    const pids = tempFile('pids');
    const started = performance.now();
    const result = await openNvidiaSmi({ executable: fixture('nvidia-smi-hangs'), timeoutMs: 400, env: { ...process.env, FAKE_NVIDIA_SMI_PIDS: pids } });
    const elapsed = performance.now() - started;
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /nvidia-smi-hangs hung for 400 ms and was killed\. /);
    // The stand-in sleeps 30 s: returning within a few seconds proves the timeout and the kill worked.
    assert.ok(elapsed >= 390 && elapsed < 5000, `returned after ${Math.round(elapsed)} ms`);

    const hung = (await callsIn(pids)).map(Number);
    assert.equal(hung.length, 1, 'the GPU query was started; the process query waits for its answer');
    for (const pid of hung) assert.equal(alive(pid), false, `process ${pid} is gone`);
  });

  it('throws from sample() once nvidia-smi starts failing, with its message', async () => {
    const link = join(dir, 'nvidia-smi');
    await symlink(fixture('nvidia-smi'), link);
    const result = await openNvidiaSmi({ executable: link });
    assert.ok(result.ok, result.ok ? '' : result.reason);
    const source = result.source;
    assert.equal((await source.sample(1)).devices.length, 1);

    await unlink(link);
    await symlink(fixture('nvidia-smi-driver-error'), link);
    await assert.rejects(source.sample(2), {
      message: `${link} exited with code 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.`,
    });

    await unlink(link);
    await assert.rejects(source.sample(3), { name: 'NvidiaSmiError', message: /^nvidia-smi was not found at / });
    await source.dispose();
  });
});

describe('toDevice', () => {
  const row = (over: Partial<SmiGpuRow> = {}): SmiGpuRow => ({
    index: 2,
    name: 'NVIDIA GeForce RTX 3070',
    uuid: 'GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13',
    memoryTotal: 8192 * MiB,
    memoryUsed: 5590 * MiB,
    memoryFree: 2290 * MiB,
    memoryReserved: 312 * MiB,
    utilizationGpu: 66,
    utilizationMemory: 41,
    temperatureC: null,
    powerW: 142.53,
    persistenceMode: true,
    driverVersion: '550.54.14',
    problems: [],
    ...over,
  });

  it('keeps the memory and reports the first real failure of another field, with advice', () => {
    const d = toDevice(row({ problems: [{ field: 'temperature.gpu', text: '[Insufficient Permissions]', code: 'NO_PERMISSION' }] }));
    assert.equal(d.index, 2);
    assert.deepEqual(d.memory, { total: 8192 * MiB, used: 5590 * MiB, free: 2290 * MiB, reserved: 312 * MiB });
    assert.deepEqual(d.error, {
      code: 'NO_PERMISSION',
      message:
        'temperature.gpu: nvidia-smi reported [Insufficient Permissions]. The user lacks permission for this NVML query (containers and some clusters restrict it).',
    });
  });

  it('puts a lost GPU in error with what to do', () => {
    const d = toDevice(
      row({
        memoryTotal: null,
        memoryUsed: null,
        memoryFree: null,
        memoryReserved: null,
        problems: ['memory.total', 'memory.used', 'memory.free', 'memory.reserved'].map((field) => ({ field, text: '[GPU is lost]', code: 'GPU_IS_LOST' })),
      }),
    );
    assert.equal(d.memory, null);
    assert.deepEqual(d.error, {
      code: 'GPU_IS_LOST',
      message: 'memory.total: nvidia-smi reported [GPU is lost]. The GPU fell off the bus or stopped answering; it usually needs a reset or a reboot.',
    });
  });

  it('is in error when memory is [N/A], even though N/A alone is no error', () => {
    const d = toDevice(row({ memoryUsed: null, problems: [{ field: 'memory.used', text: '[N/A]', code: 'NOT_SUPPORTED' }] }));
    assert.equal(d.memory, null);
    assert.deepEqual(d.error, { code: 'NOT_SUPPORTED', message: 'memory.used: nvidia-smi reported [N/A]' });
  });
});
