/** The spike sizes each server from its own arguments, with the gate's parser and sizing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { estimateSpikeServer } from '../../../src/core/checks/spike-estimate.ts';
import { validateSpikeServer } from '../../../src/core/checks/spike-spec.ts';
import type { GpuSample } from '../../../src/core/gpu/types.ts';
import { GiB, MiB } from '../../helpers/fake-nvml.ts';
import { LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';

const sample = (freeBytes: number): GpuSample =>
  ({
    timestamp: 0,
    source: 'nvml',
    driverVersion: '550.54.14',
    devices: [
      {
        index: 0,
        name: 'GPU',
        uuid: null,
        memory: { total: 8 * GiB, used: 8 * GiB - freeBytes, free: freeBytes, reserved: null },
        processes: [],
        persistenceMode: true,
        error: null,
      },
    ],
  }) as unknown as GpuSample;

const server = (args: string[]) => {
  const v = validateSpikeServer({ name: 'llm', server: 'llama-server', args, port: 8080 }, 0);
  assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
  return v.server;
};

describe('spike estimates', () => {
  it('a llama-server is sized at its own -c, -np, -fa and KV types', async () => {
    const model = await writeGguf('spike-llama', LLAMA_32_3B, { sparse: true });
    const e = await estimateSpikeServer(server(['-m', model, '-c', '4096', '-np', '1', '-fa', 'off']), sample(6 * GiB), 0, {});
    // At least the weights llama.cpp printed (1918 MiB), the f16 KV cache of 4096 cells (448 MiB) and the CUDA context (256 MiB).
    assert.ok(e!.bytes! > (1918 + 448 + 256) * MiB, `${e!.bytes}`);
    const q8 = await estimateSpikeServer(server(['-m', model, '-c', '4096', '-np', '1', '-fa', 'on', '-ctk', 'q8_0', '-ctv', 'q8_0']), sample(6 * GiB), 0, {});
    assert.ok(q8!.bytes! < e!.bytes!, 'a q8_0 cache with flash attention is smaller');
  });

  it('a server naming no model has no estimate; bad arguments give a note, not a crash', async () => {
    assert.equal(await estimateSpikeServer(server(['--port', '8080']), sample(6 * GiB), 0, {}), null);
    const bad = await estimateSpikeServer(server(['-m', 'x.gguf']), sample(6 * GiB), 0, { LLAMA_ARG_CTX_SIZE: 'lots' });
    assert.equal(bad!.bytes, null);
    assert.match(bad!.note!, /environment variable LLAMA_ARG_CTX_SIZE needs a whole number, not "lots"/);
  });
});
