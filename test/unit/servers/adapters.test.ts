/**
 * Server adapters against the emulated servers (real HTTP on 127.0.0.1): what each server says
 * about itself, and that NVML sees memory rise on load and fall on unload. llama-server's adapter
 * runs against the real llama-server in real-llama-server.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fasterWhisperAdapter, fasterWhisperUnload } from '../../../src/core/servers/kinds/faster-whisper.ts';
import { ollamaAdapter, ollamaReloadWithContext, ollamaUnload } from '../../../src/core/servers/kinds/ollama.ts';
import { reportedVram } from '../../../src/core/servers/adapters/types.ts';
import { vllmAdapter, vllmSleep, vllmWakeUp } from '../../../src/core/servers/kinds/vllm.ts';
import { whisperCppAdapter } from '../../../src/core/servers/kinds/whisper-cpp.ts';
import { postJson } from '../../../src/core/servers/http.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';

let h: ServerHarness;
before(async () => {
  h = await ServerHarness.create();
});
after(async () => {
  await h?.dispose();
});

describe('server adapters', () => {
  it('Ollama: /api/ps size_vram and context beside NVML, reload with num_ctx, unload with keep_alive 0', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const s = await h.task('ollama', 'ollama', ['--model', 'llama3.2:3b=2000:112', '--model', 'qwen2.5:0.5b=400:16', '--nvml-extra-mib', '300'], {
      needs: '3GiB',
    });
    assert.ok((await s.start()).ok);
    const url = s.baseUrl!;
    const idle = await h.used();
    assert.deepEqual((await ollamaAdapter.report(url)).models, []);

    const load = await postJson(`${url}/api/generate`, { model: 'llama3.2:3b', prompt: 'hi', stream: false, options: { num_predict: 4 } });
    assert.equal(load.status, 200);
    const report = await ollamaAdapter.report(url);
    assert.deepEqual(report.models, [{ name: 'llama3.2:3b', vramBytes: (2000 + 448) * MiB, contextLength: 4096 }]);
    // NVML sees more than the server says: the CUDA context is not in size_vram.
    assert.equal((await h.used()) - idle, (2448 + 300) * MiB);
    assert.equal(reportedVram(report), 2448 * MiB);

    await ollamaReloadWithContext(url, 'llama3.2:3b', 2048);
    assert.equal((await ollamaAdapter.report(url)).models[0]?.contextLength, 2048);
    assert.equal((await h.used()) - idle, (2000 + 224 + 300) * MiB);

    await postJson(`${url}/api/generate`, { model: 'qwen2.5:0.5b', prompt: 'hi', stream: false });
    assert.deepEqual(await ollamaUnload(url, 'qwen2.5:0.5b'), ['qwen2.5:0.5b']);
    assert.deepEqual(await ollamaUnload(url, null), ['llama3.2:3b']);
    assert.equal(await h.used(), idle);
    const missing = await postJson(`${url}/api/generate`, { model: 'nope', keep_alive: 0 });
    assert.equal(missing.status, 404);
    await assert.rejects(ollamaUnload(url, 'nope'), /Ollama refused to unload nope: HTTP 404 model 'nope' not found/);
    await s.stop();
  });

  it('vLLM: takes utilization × total, /v1/models max_model_len, sleep and wake', async () => {
    await h.fake.write({ devices: [baseGpu({ total: 10 * GiB, used: 1 * GiB, processes: [] })] });
    const s = await h.task(
      'vllm',
      'vllm',
      ['serve', 'Qwen/Qwen2.5-1.5B', '--gpu-memory-utilization', '0.4', '--max-model-len', '4096', '--enable-sleep-mode'],
      {
        needs: '4GiB',
        env: { VLLM_SERVER_DEV_MODE: '1' },
      },
    );
    assert.ok((await s.start()).ok);
    assert.equal(await h.used(), 1 * GiB + 4 * GiB);
    const r = await vllmAdapter.report(s.baseUrl!);
    assert.deepEqual(r.models, [{ name: 'Qwen/Qwen2.5-1.5B', vramBytes: null, contextLength: 4096 }]);
    assert.equal(r.sleeping, false);
    await vllmSleep(s.baseUrl!, 1);
    assert.equal((await vllmAdapter.report(s.baseUrl!)).sleeping, true);
    assert.ok((await h.used()) < 1.5 * GiB);
    await vllmWakeUp(s.baseUrl!);
    assert.equal(await h.used(), 5 * GiB);
    await s.stop();
  });

  it('vLLM refuses to start when free memory is below its share, and the task says so', async () => {
    await h.fake.write({ devices: [baseGpu({ total: 8 * GiB, used: 6 * GiB, processes: [] })] });
    const s = await h.task('vllm-big', 'vllm', ['serve', 'm', '--gpu-memory-utilization', '0.5']);
    const r = await s.start();
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.match(r.message, /exit code 1/);
      assert.ok(r.lastLines?.some((l) => /less than desired GPU memory utilization/.test(l)));
    }
  });

  it('whisper.cpp and faster-whisper: health, loaded models, unload, CPU device', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const idle = await h.used();
    const w = await h.task('whisper', 'whisper-cpp', ['-m', 'ggml-base.en.bin', '--vram-mib', '388'], { needs: '500MiB' });
    assert.ok((await w.start()).ok);
    assert.equal((await whisperCppAdapter.report(w.baseUrl!)).healthy, true);
    assert.equal((await h.used()) - idle, 388 * MiB);
    await w.stop();

    const f = await h.task('fw', 'faster-whisper', ['--model', 'Systran/faster-whisper-small=600', '--preload', 'Systran/faster-whisper-small'], {
      needs: '1GiB',
    });
    assert.ok((await f.start()).ok);
    assert.deepEqual(
      (await fasterWhisperAdapter.report(f.baseUrl!)).models.map((m) => m.name),
      ['Systran/faster-whisper-small'],
    );
    assert.equal((await h.used()) - idle, 600 * MiB);
    await fasterWhisperUnload(f.baseUrl!, 'Systran/faster-whisper-small');
    assert.equal(await h.used(), idle);
    await assert.rejects(fasterWhisperUnload(f.baseUrl!, 'Systran/faster-whisper-small'), /HTTP 404/);
    await f.stop();
  });
});
