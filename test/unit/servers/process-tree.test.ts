/**
 * `vram-guard` tasks end to end through the core: emulated servers as real child processes that
 * allocate VRAM in the fake NVML, read back through the real NVML source; the real llama-server
 * where no VRAM needs to show (a model it cannot load).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GiB, MiB } from '../../../src/core/units.ts';
import { isRunning } from '../../../src/core/servers/process-tree.ts';
import { realLlama } from '../../helpers/real-llama-server.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { pollUntil } from '../../helpers/servers.ts';

let h: ServerHarness;
before(async () => {
  h = await ServerHarness.create();
});
after(async () => {
  await h?.dispose();
});

describe('model server tasks', () => {
  it('starts a server, sees its VRAM in NVML, and stops it leaving no process', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const before = await h.used();
    const s = await h.task('llama', 'llama-server', ['-m', 'model.gguf', '-c', '4096', '--weights-mib', '2000', '--load-ms', '150'], { needs: '3GiB' });
    const r = await s.start();
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(s.state, 'ready');
    // weights 2000 + KV 512 + compute 100 MiB
    assert.equal((await h.used()) - before, 2612 * MiB);
    const log = h.logs.get('llama')!.join('\n');
    assert.match(log, /VRAM gate: PASS — 6728 MiB free ≥ 3072 MiB needed \+ 256 MiB margin/);
    assert.match(log, /Ready after/);
    await s.stop();
    assert.equal(await isRunning(r.pid), false);
    assert.equal(await h.used(), before);
  });

  it('refuses to start when free VRAM is short, with the numbers', async () => {
    await h.fake.write({ devices: [baseGpu({ used: 6 * GiB })] });
    const s = await h.task('big', 'llama-server', ['-m', 'model.gguf'], { needs: '3GiB' });
    const r = await s.start();
    assert.equal(r.ok, false);
    assert.equal(s.state, 'refused');
    assert.equal(s.process, null, 'nothing was spawned');
    if (!r.ok) {
      assert.match(r.message, /^"big" was not started\. 2048 MiB free < 3072 MiB needed: 1024 MiB short \(1280 MiB with the 256 MiB margin\)/);
      assert.match(r.message, /6144 MiB used \+ 3072 MiB needed = 9216 MiB of 8192 MiB .*more than the GPU has\): EMERGENCY/);
      assert.match(r.message, /Free memory first/);
    }
  });

  it('reports a server that exits during start with its exit code and last log lines', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    // The real llama-server, told to load a model that is not there.
    const s = await h.task('broken', 'llama-server', ['-m', '/nonexistent/missing.gguf'], { needs: '1GiB', command: [realLlama().server] });
    const r = await s.start();
    assert.equal(r.ok, false);
    assert.equal(s.state, 'failed');
    if (!r.ok) {
      assert.match(r.message, /exited during start-up with exit code 1/);
      assert.ok(r.lastLines?.some((l) => /failed to load model/.test(l)));
    }
    assert.match(h.logs.get('broken')!.join('\n'), /exit code 1[\s\S]*failed to load model/);
  });

  it('kills a server that ignores SIGTERM after the stop timeout', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    h.stopTimeoutMs = 300;
    const s = await h.task('stubborn', 'whisper-cpp', ['-m', 'ggml-base.en.bin', '--ignore-sigterm'], { needs: '600MiB' });
    const r = await s.start();
    assert.ok(r.ok);
    const stop = await s.stop();
    h.stopTimeoutMs = 2000;
    assert.equal(stop?.how, 'SIGKILL');
    assert.equal(await isRunning(r.pid), false);
    assert.match(h.logs.get('stubborn')!.join('\n'), /ignored SIGTERM .* killed \(SIGKILL/);
  });

  it('runs exclusive tasks one at a time', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const a = await h.task('gpu-a', 'whisper-cpp', ['-m', 'a.bin'], { needs: '500MiB', exclusive: true });
    const b = await h.task('gpu-b', 'whisper-cpp', ['-m', 'b.bin'], { needs: '500MiB', exclusive: true });
    assert.ok((await a.start()).ok);
    const second = b.start();
    await pollUntil(() => b.state === 'waiting-for-gpu-lock', 'the second task to wait');
    assert.match(h.logs.get('gpu-b')!.join('\n'), /held by "gpu-a"/);
    assert.equal(b.process, null);
    await a.stop();
    assert.ok((await second).ok);
    assert.equal(h.lock.current?.name, 'gpu-b');
    await b.stop();
    assert.equal(h.lock.current, null);
  });

  it('restarts with a smaller context and on the CPU', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const s = await h.task('ctx', 'llama-server', ['-m', 'model.gguf', '-c', '8192', '--weights-mib', '1000'], {
      needs: '2GiB',
      fallback: { contextSizes: [8192, 4096, 2048] },
    });
    const before = await h.used();
    assert.ok((await s.start()).ok);
    assert.equal((await h.used()) - before, (1000 + 1024 + 100) * MiB);
    assert.equal(s.nextContext(), 4096);
    assert.ok((await s.restart({ contextSize: 4096 }, 'test')).ok);
    assert.deepEqual(s.commandLine().args.slice(-6, -2), ['-c', '4096', '--weights-mib', '1000']);
    assert.equal((await h.used()) - before, (1000 + 512 + 100) * MiB);
    assert.equal(s.nextContext(), 2048);
    assert.ok((await s.restart({ cpu: true }, 'test')).ok);
    assert.ok(s.commandLine().args.includes('-ngl'));
    assert.equal(await h.used(), before);
    await s.stop();
  });
});
