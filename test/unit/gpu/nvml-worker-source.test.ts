import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openNvmlWorker } from '../../../src/core/gpu/nvml-worker-source.ts';

describe('NVML worker process', () => {
  it('a worker that cannot start says why, with the error it printed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-worker-'));
    const missing = join(dir, 'nvml-worker.cjs');
    const r = await openNvmlWorker({ workerFile: missing });
    assert.equal(r.ok, false);
    assert.equal(r.ok ? '' : r.reason, `the NVML worker stopped (exit code 1) before NVML was ready: Error: Cannot find module '${missing}'`);
  });

  it('a worker that crashes before it answers names its error, not the stack', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-worker-'));
    const crashing = join(dir, 'crashing-worker.cjs');
    await writeFile(crashing, "throw new TypeError('koffi is missing its native module');\n");
    const r = await openNvmlWorker({ workerFile: crashing });
    assert.equal(r.ok ? '' : r.reason, 'the NVML worker stopped (exit code 1) before NVML was ready: TypeError: koffi is missing its native module');
  });
});
