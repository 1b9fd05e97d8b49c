/** The ledger as the exported API gives it: plain data per GPU, owners with their PIDs, the rest apart. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyDevice, type GpuSample } from '../../../src/core/gpu/types.ts';
import { buildLedger } from '../../../src/core/servers/ledger.ts';
import { ledgerView } from '../../../src/core/servers/ledger-view.ts';
import { GiB, MiB } from '../../../src/core/units.ts';

function sample(used: number, processes: Array<[number, number | null, string]>): GpuSample {
  const d = emptyDevice(0);
  d.name = 'Test GPU';
  d.memory = { total: 8 * GiB, used, free: 8 * GiB - used, reserved: 0 };
  d.processes = processes.map(([pid, bytes, name]) => ({ pid, usedBytes: bytes, name, kind: 'compute' }));
  return { source: 'nvml', timestamp: 1234, driverVersion: null, sourceVersion: null, devices: [d] };
}

describe('ledger view', () => {
  it('lists per GPU the owners with their PIDs, NVML and reported figures and models, the other processes and the residual', () => {
    const table = new Map([
      [200, { pid: 200, ppid: 1, name: 'ollama' }],
      [201, { pid: 201, ppid: 200, name: 'ollama' }],
    ]);
    const ledger = buildLedger({
      sample: sample(5000 * MiB, [
        [201, 2838 * MiB, 'ollama'],
        [1187, 214 * MiB, 'Xorg'],
      ]),
      table,
      owners: [{ name: 'ollama (task)', kind: 'ollama', rootPid: 200, baseUrl: 'http://127.0.0.1:1', gpu: 0 }],
      reports: new Map([
        [
          'ollama (task)',
          {
            kind: 'ollama',
            reachable: true,
            healthy: true,
            models: [{ name: 'llama3.2:3b', vramBytes: 2648 * MiB, contextLength: 4096 }],
            contextLength: null,
            sleeping: null,
            error: null,
          },
        ],
      ]),
    });
    const view = ledgerView(ledger, 1234);
    assert.deepEqual(view, {
      timestamp: 1234,
      gpus: [
        {
          gpu: 0,
          name: 'Test GPU',
          totalBytes: 8 * GiB,
          usedBytes: 5000 * MiB,
          owners: [
            {
              name: 'ollama (task)',
              kind: 'ollama',
              rootPid: 200,
              pids: [201],
              nvmlBytes: 2838 * MiB,
              reportedBytes: 2648 * MiB,
              expectedBytes: null,
              models: ['llama3.2:3b'],
            },
          ],
          other: [{ pid: 1187, name: 'Xorg', usedBytes: 214 * MiB }],
          residualBytes: (5000 - 2838 - 214) * MiB,
          residualHint: ledger[0]!.residualHint,
          reserved: [],
        },
      ],
    });
    // Plain data: it survives JSON unchanged.
    assert.deepEqual(JSON.parse(JSON.stringify(view)), view);
  });

  it('is empty without GPUs', () => {
    assert.deepEqual(ledgerView([], null), { timestamp: null, gpus: [] });
  });
});
