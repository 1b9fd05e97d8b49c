/** Parsing nvidia-smi's CSV output (--format=csv,noheader,nounits), line by line as nvidia-smi prints it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  computeAppsQueryArgs,
  gpuQueryArgs,
  isInvalidFieldMessage,
  MiB,
  NvidiaSmiParseError,
  parseComputeApps,
  parseGpuQuery,
  unavailableCode,
} from '../../../src/core/gpu/nvidia-smi-parse.ts';

const RTX_3070 = '0, NVIDIA GeForce RTX 3070, GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13, 8192, 5590, 2290, 312, 66, 41, 61, 142.53, Enabled, 550.54.14';

describe('nvidia-smi arguments', () => {
  it('asks for every field, in order, without units or header', () => {
    assert.deepEqual(gpuQueryArgs(true), [
      '--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,memory.reserved,utilization.gpu,utilization.memory,temperature.gpu,power.draw,persistence_mode,driver_version',
      '--format=csv,noheader,nounits',
    ]);
    assert.deepEqual(gpuQueryArgs(false), [
      '--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory,temperature.gpu,power.draw,persistence_mode,driver_version',
      '--format=csv,noheader,nounits',
    ]);
    assert.deepEqual(computeAppsQueryArgs(), ['--query-compute-apps=gpu_uuid,pid,process_name,used_memory', '--format=csv,noheader,nounits']);
  });
});

describe('parseGpuQuery', () => {
  it('reads an RTX 3070 row: MiB to bytes, watts with decimals, persistence on', () => {
    const [gpu, ...rest] = parseGpuQuery(`${RTX_3070}\n`, true);
    assert.equal(rest.length, 0);
    assert.deepEqual(gpu, {
      index: 0,
      name: 'NVIDIA GeForce RTX 3070',
      uuid: 'GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13',
      memoryTotal: 8 * 1024 * MiB,
      memoryUsed: 5590 * MiB,
      memoryFree: 2290 * MiB,
      memoryReserved: 312 * MiB,
      utilizationGpu: 66,
      utilizationMemory: 41,
      temperatureC: 61,
      powerW: 142.53,
      persistenceMode: true,
      driverVersion: '550.54.14',
      problems: [],
    });
    assert.equal(gpu?.memoryTotal, 8_589_934_592);
  });

  it('reads several GPUs, CRLF line ends (Windows) and a trailing blank line', () => {
    const out =
      '0, NVIDIA GeForce RTX 4090, GPU-aaaaaaaa-0000-0000-0000-000000000000, 24564, 1, 24108, 455, 0, 0, 34, 21.07, Disabled, 560.94\r\n' +
      '1, NVIDIA RTX A4000, GPU-bbbbbbbb-0000-0000-0000-000000000000, 16376, 9000, 7015, 361, 100, 87, 80, 139.90, Disabled, 560.94\r\n\r\n';
    const rows = parseGpuQuery(out, true);
    assert.deepEqual(
      rows.map((r) => [r.index, r.name, r.memoryTotal, r.memoryUsed, r.memoryReserved, r.powerW, r.persistenceMode]),
      [
        [0, 'NVIDIA GeForce RTX 4090', 24564 * MiB, 1 * MiB, 455 * MiB, 21.07, false],
        [1, 'NVIDIA RTX A4000', 16376 * MiB, 9000 * MiB, 361 * MiB, 139.9, false],
      ],
    );
  });

  it('turns [N/A], N/A, [Not Supported], [Insufficient Permissions] and [Unknown Error] into null, never a number', () => {
    const [gpu] = parseGpuQuery(
      '0, NVIDIA GeForce RTX 3060, GPU-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5, 12288, 10240, 2048, [N/A], N/A, [Not Supported], [Insufficient Permissions], [Unknown Error], [N/A], 535.183.01',
      true,
    );
    assert.ok(gpu);
    assert.equal(gpu.memoryTotal, 12288 * MiB);
    assert.equal(gpu.memoryReserved, null);
    assert.equal(gpu.utilizationGpu, null);
    assert.equal(gpu.utilizationMemory, null);
    assert.equal(gpu.temperatureC, null);
    assert.equal(gpu.powerW, null);
    assert.equal(gpu.persistenceMode, null);
    assert.equal(gpu.driverVersion, '535.183.01');
    assert.deepEqual(gpu.problems, [
      { field: 'memory.reserved', text: '[N/A]', code: 'NOT_SUPPORTED' },
      { field: 'utilization.gpu', text: 'N/A', code: 'NOT_SUPPORTED' },
      { field: 'utilization.memory', text: '[Not Supported]', code: 'NOT_SUPPORTED' },
      { field: 'temperature.gpu', text: '[Insufficient Permissions]', code: 'NO_PERMISSION' },
      { field: 'power.draw', text: '[Unknown Error]', code: 'UNKNOWN' },
      { field: 'persistence_mode', text: '[N/A]', code: 'NOT_SUPPORTED' },
    ]);
  });

  it('reads a row without memory.reserved (older drivers) and leaves reserved null', () => {
    const [gpu] = parseGpuQuery(
      '0, NVIDIA GeForce GTX 1080, GPU-2b7c9d1e-8f40-4a63-b5c2-d91e0f7a3b64, 8119, 3411, 4708, 23, 12, 54, 61.27, Disabled, 470.223.02',
      false,
    );
    assert.ok(gpu);
    assert.equal(gpu.memoryTotal, 8119 * MiB);
    assert.equal(gpu.memoryUsed, 3411 * MiB);
    assert.equal(gpu.memoryFree, 4708 * MiB);
    assert.equal(gpu.memoryReserved, null);
    assert.equal(gpu.utilizationGpu, 23);
    assert.equal(gpu.powerW, 61.27);
    assert.equal(gpu.driverVersion, '470.223.02');
    assert.deepEqual(gpu.problems, []);
  });

  it('keeps a GPU name that holds a comma whole', () => {
    const [gpu] = parseGpuQuery('3, Board, rev 2, GPU-cccccccc-0000-0000-0000-000000000000, 4096, 1, 4000, 95, 0, 0, 30, 10.00, Enabled, 550.54.14', true);
    assert.equal(gpu?.index, 3);
    assert.equal(gpu?.name, 'Board, rev 2');
    assert.equal(gpu?.uuid, 'GPU-cccccccc-0000-0000-0000-000000000000');
    assert.equal(gpu?.memoryTotal, 4096 * MiB);
  });

  it('treats a value it cannot read as a problem, not a number (a memory figure as an implausible reading)', () => {
    const [gpu] = parseGpuQuery('0, X, GPU-x, 8192, lots, 2290, 312, 66, 41, 61, 142.53, Maybe, 550.54.14', true);
    assert.equal(gpu?.memoryUsed, null);
    assert.equal(gpu?.persistenceMode, null);
    assert.deepEqual(gpu?.problems, [
      { field: 'memory.used', text: 'lots', code: 'IMPLAUSIBLE_READING' },
      { field: 'persistence_mode', text: 'Maybe', code: 'UNKNOWN' },
    ]);
  });

  it('gives no rows for empty output and rejects a row with too few fields', () => {
    assert.deepEqual(parseGpuQuery('', true), []);
    assert.deepEqual(parseGpuQuery('\n', true), []);
    assert.throws(() => parseGpuQuery('0, NVIDIA GeForce RTX 3070, GPU-x, 8192', true), NvidiaSmiParseError);
    assert.throws(() => parseGpuQuery('0, a, b', false), /expected 12 fields per GPU, got 3/);
  });
});

describe('parseComputeApps', () => {
  it('reads processes with their GPU UUID, PID, name and MiB as bytes', () => {
    const apps = parseComputeApps(
      'GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13, 4242, /usr/local/bin/ollama, 2838\n' +
        'GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13, 5120, /opt/llama.cpp/build/bin/llama-server, 1650\n',
    );
    assert.deepEqual(apps, [
      { gpuUuid: 'GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13', pid: 4242, name: '/usr/local/bin/ollama', usedBytes: 2838 * MiB },
      { gpuUuid: 'GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13', pid: 5120, name: '/opt/llama.cpp/build/bin/llama-server', usedBytes: 1650 * MiB },
    ]);
  });

  it('keeps commas inside a process name (the first two fields and the last are fixed)', () => {
    const [app] = parseComputeApps('GPU-5e8a2f4c-31d7-9b06-c2f1-7a4d0e6b9c13, 6107, /home/dev/models/tts,v2/bin/piper-server, 180');
    assert.equal(app?.name, '/home/dev/models/tts,v2/bin/piper-server');
    assert.equal(app?.pid, 6107);
    assert.equal(app?.usedBytes, 180 * MiB);
    const [odd] = parseComputeApps('GPU-1, 77, python3 serve.py --ports 8000, 8001, 12');
    assert.equal(odd?.name, 'python3 serve.py --ports 8000, 8001');
    assert.equal(odd?.usedBytes, 12 * MiB);
  });

  it('gives null for memory the driver cannot tell (WDDM) and for a name it may not read', () => {
    const apps = parseComputeApps(
      'GPU-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5, 3130, C:\\Program Files\\Ollama\\ollama.exe, [N/A]\n' +
        'GPU-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5, 3131, [Insufficient Permissions], 9216\n' +
        'GPU-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5, 3132, python, N/A\n',
    );
    assert.deepEqual(
      apps.map((a) => [a.pid, a.name, a.usedBytes]),
      [
        [3130, 'C:\\Program Files\\Ollama\\ollama.exe', null],
        [3131, null, 9216 * MiB],
        [3132, 'python', null],
      ],
    );
  });

  it('gives no processes for empty output or "No running processes found"', () => {
    assert.deepEqual(parseComputeApps(''), []);
    assert.deepEqual(parseComputeApps('No running processes found\n'), []);
  });

  it('rejects rows it cannot read', () => {
    assert.throws(() => parseComputeApps('GPU-1, 4242, 100'), /expected 4 fields per process, got 3/);
    assert.throws(() => parseComputeApps('GPU-1, [N/A], python3, 100'), NvidiaSmiParseError);
    assert.throws(() => parseComputeApps('GPU-1, -5, python3, 100'), NvidiaSmiParseError);
  });
});

describe('unavailableCode and isInvalidFieldMessage', () => {
  it('names what nvidia-smi could not read after NVML, and leaves values alone', () => {
    assert.equal(unavailableCode('[N/A]'), 'NOT_SUPPORTED');
    assert.equal(unavailableCode('N/A'), 'NOT_SUPPORTED');
    assert.equal(unavailableCode('[Not Supported]'), 'NOT_SUPPORTED');
    assert.equal(unavailableCode('[Insufficient Permissions]'), 'NO_PERMISSION');
    assert.equal(unavailableCode('[Unknown Error]'), 'UNKNOWN');
    assert.equal(unavailableCode('[GPU is lost]'), 'GPU_IS_LOST');
    assert.equal(unavailableCode('[Something New]'), 'UNKNOWN');
    assert.equal(unavailableCode('142.53'), null);
    assert.equal(unavailableCode('Not Supported'), null);
    assert.equal(unavailableCode('NVIDIA GeForce RTX 3070'), null);
  });

  it('recognises the old-driver answer for memory.reserved', () => {
    const said = 'Field "memory.reserved" is not a valid field to query.\n\n';
    assert.equal(isInvalidFieldMessage(said, 'memory.reserved'), true);
    assert.equal(isInvalidFieldMessage(said, 'power.draw'), false);
    assert.equal(isInvalidFieldMessage("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", 'memory.reserved'), false);
  });
});
