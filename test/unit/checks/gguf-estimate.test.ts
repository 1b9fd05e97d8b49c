/** The VRAM estimate from GGUF metadata, with files generated in real models' shapes. */
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import {
  computeBufferBytes,
  DEFAULT_RUNTIME_OVERHEAD,
  estimateGgufFile,
  estimateVram,
  isNoEstimate,
  kvCacheBytes,
  readGgufModel,
  summarizeGguf,
  type GgufModel,
  type NoEstimate,
  type VramEstimate,
} from '../../../src/core/checks/gguf-estimate.ts';
import { compareEstimate } from '../../../src/core/checks/estimate-comparison.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import {
  DEEPSEEK_V2_LITE,
  fixtureTensorBytes,
  GEMMA2_2B,
  LLAMA_31_8B,
  LLAMA_32_3B,
  MAMBA_130M,
  OPENELM_270M,
  QWEN25_7B_SHAPE,
  writeGguf,
} from '../../helpers/gguf-fixtures.ts';

function ok(e: VramEstimate | NoEstimate): VramEstimate {
  assert.ok(e.ok, e.ok ? '' : `expected an estimate, got: ${e.reason}`);
  return e;
}

async function model(name: string, spec: Parameters<typeof writeGguf>[1]): Promise<GgufModel> {
  const m = await readGgufModel(await writeGguf(name, spec));
  assert.ok(!isNoEstimate(m), isNoEstimate(m) ? m.reason : '');
  return m;
}

describe('GGUF estimate: reading', () => {
  it('reads a header-only Llama 3.2 3B Q4_K_M: the weights come from the tensor infos, not the file size', async () => {
    const path = await writeGguf('llama-3.2-3b-q4_k_m', LLAMA_32_3B);
    const m = await model('llama-3.2-3b-q4_k_m', LLAMA_32_3B);
    assert.ok((await stat(path)).size < 64 * 1024, 'the fixture holds only the header');
    assert.equal(m.architecture, 'llama');
    assert.equal(m.name, 'Llama 3.2 3B Instruct');
    assert.equal(m.tensorCount, 255);
    assert.equal(m.blockCount, 28);
    assert.equal(m.embeddingLength, 3072);
    assert.deepEqual(new Set(m.headCount), new Set([24]));
    assert.deepEqual(new Set(m.headCountKv), new Set([8]));
    assert.equal(m.keyLength, 128);
    assert.equal(m.vocabSize, 128256);
    assert.equal(m.trainedContext, 131072);
    // 58 f32, 168 q4_K and 29 q6_K tensors: llama.cpp loads them as "model buffer size = 1918.35 MiB".
    assert.equal(m.weightsBytes, LLAMA_32_3B.tensors.reduce((s, t) => s + fixtureTensorBytes(t), 0));
    assert.equal(m.weightsBytes, 2_011_539_712);
    assert.equal((m.weightsBytes / MiB).toFixed(2), '1918.35');
  });

  it('reads Llama 3.1 8B Q4_K_M at the 4.58 GiB llama.cpp reports', async () => {
    const m = await model('llama-3.1-8b-q4_k_m', LLAMA_31_8B);
    assert.equal(m.tensorCount, 292);
    assert.equal((m.weightsBytes / GiB).toFixed(2), '4.58');
  });

  it('reads a file that holds its tensor data too', async () => {
    const path = await writeGguf('qwen-shape', QWEN25_7B_SHAPE);
    const m = await model('qwen-shape', QWEN25_7B_SHAPE);
    assert.ok((await stat(path)).size > m.weightsBytes);
    assert.equal(m.weightsBytes, 64 * 32 * 2 + 64 * 4);
    // No key_length: head_dim = embedding_length / head_count = 3584 / 28.
    assert.equal(m.keyLength, 128);
    assert.equal(m.valueLength, 128);
    // No vocab_size key: it comes from the token embedding's shape.
    assert.equal(m.vocabSize, 32);
  });

  it('says what happened when the file is missing or not GGUF', async () => {
    const missing = await readGgufModel('/nonexistent/model.gguf');
    assert.ok(isNoEstimate(missing));
    assert.equal(missing.kind, 'unreadable');
    assert.match(missing.reason, /\/nonexistent\/model\.gguf could not be read as a GGUF model: the file does not exist/);
    const notGguf = join(dirname(await writeGguf('any', QWEN25_7B_SHAPE)), 'not-a-model.gguf');
    await writeFile(notGguf, 'this is a text file, not a model\n'.repeat(10));
    const bad = await readGgufModel(notGguf);
    assert.ok(isNoEstimate(bad));
    assert.equal(bad.kind, 'unreadable');
    assert.match(bad.reason, /not a valid gguf file/);
    assert.match(bad.advice, /--need/);
  });
});

describe('GGUF estimate: the formula', () => {
  it('KV cache: 32 layers, 8 KV heads, head_dim 128, 8192 tokens in f16 is exactly 1 GiB', async () => {
    const m = await model('llama-3.1-8b', LLAMA_31_8B);
    assert.equal(kvCacheBytes(m, 8192, 1, 'f16'), GiB);
    assert.equal(kvCacheBytes(m, 4096, 2, 'f16'), GiB, 'two slots of 4096 hold as much as one of 8192');
    assert.equal(kvCacheBytes(m, 8192, 1, 'q8_0'), (GiB / 64) * 34, 'q8_0: 34 bytes per 32 elements');
    assert.equal(kvCacheBytes(m, 8192, 1, 'q4_0'), (GiB / 64) * 18, 'q4_0: 18 bytes per 32 elements');
    assert.equal(kvCacheBytes(m, 8192, 1, 'f32'), 2 * GiB);
    const e = ok(await estimateGgufFile(m.path, { contextLength: 8192, parallel: 1, kvCacheType: 'f16' }));
    assert.equal(e.kvCacheBytes, GiB);
  });

  it('KV cache: Qwen2.5 7B at 32768 tokens is the 1792 MiB llama.cpp reports', async () => {
    const e = ok(await estimateGgufFile(await writeGguf('qwen', QWEN25_7B_SHAPE), { contextLength: 32768, parallel: 1, kvCacheType: 'f16' }));
    assert.equal(e.kvCacheBytes, 1792 * MiB);
  });

  it('KV cache: per-layer head counts (OpenELM) are summed layer by layer', async () => {
    const m = await model('openelm', OPENELM_270M);
    assert.deepEqual(m.headCountKv, [3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5]);
    // 63 KV heads over the layers × 2048 tokens × (64 + 64) × 2 bytes.
    assert.equal(kvCacheBytes(m, 2048, 1, 'f16'), 63 * 2048 * 128 * 2);
    assert.equal(m.keyLength, 64);
    // The attention scores use the widest layer's 20 heads.
    assert.equal(computeBufferBytes({ ...m, vocabSize: 32000 }, 2048, 1, 512, false), 512 * 4 * (Math.max(32000, 20 * 2048) + 1280));
  });

  it('compute buffers: the logits or the attention scores, whichever is larger; flash attention drops the scores', async () => {
    const m = await model('llama-3.2-3b', LLAMA_32_3B);
    // 4096 tokens: the logits (128256 × 512 × 4) are larger; llama.cpp reports 256.50 MiB.
    assert.equal(computeBufferBytes(m, 4096, 1, 512, false), 256.5 * MiB);
    // 16384 tokens: 24 heads × 16384 × 512 × 4 = 768 MiB of scores, plus the hidden states.
    assert.equal(computeBufferBytes(m, 16384, 1, 512, false), 768 * MiB + 6 * MiB);
    assert.equal(computeBufferBytes(m, 16384, 1, 512, true), 256.5 * MiB);
    // A context shorter than the micro-batch sizes the batch.
    assert.equal(computeBufferBytes(m, 256, 1, 512, false), 256 * 4 * (128256 + 3072));
  });

  it('the total is weights + KV cache + compute + CUDA context, and parallel slots multiply the KV cache', async () => {
    const m = await model('llama-3.2-3b', LLAMA_32_3B);
    const one = estimateVram(m, { contextLength: 4096, parallel: 1, kvCacheType: 'f16' });
    assert.equal(one.totalBytes, one.weightsBytes + one.kvCacheBytes + one.computeBytes + one.runtimeBytes);
    assert.equal(one.runtimeBytes, DEFAULT_RUNTIME_OVERHEAD);
    assert.equal(one.kvCacheBytes, 448 * MiB);
    const four = estimateVram(m, { contextLength: 4096, parallel: 4, kvCacheType: 'f16' });
    assert.equal(four.kvCacheBytes, 4 * 448 * MiB);
    const q8 = estimateVram(m, { contextLength: 4096, parallel: 1, kvCacheType: 'q8_0' });
    assert.equal(q8.kvCacheBytes, 238 * MiB);
    assert.deepEqual(one.notes, []);
    const long = estimateVram(m, { contextLength: 262144, parallel: 1, kvCacheType: 'f16' });
    assert.match(long.notes[0]!, /262144 is above the 131072 tokens the model was trained for/);
  });

  it('Ollama Llama 3.2 3B Q4_K_M at 4096 tokens lands within 15% of the +2838 MiB a user measured on the card', async () => {
    const e = ok(await estimateGgufFile(await writeGguf('llama3.2-3b', LLAMA_32_3B), { contextLength: 4096, parallel: 1, kvCacheType: 'f16' }));
    const measured = 2838 * MiB; // used VRAM rose by 2838 MB (MiB, as NVML counts) when Ollama loaded it
    const c = compareEstimate(e.totalBytes, { bytes: measured, by: 'NVML, used VRAM before and after loading' });
    // 1918 + 448 + 257 + 256 = 2879 MiB estimated against 2838 MiB measured: 41 MiB (1.4%) above.
    assert.equal(Math.round(e.totalBytes / MiB), 2879);
    assert.ok(c.withinTolerance, `estimate ${Math.round(e.totalBytes / MiB)} MiB vs measured 2838 MiB: ${c.summary}`);
    assert.ok(Math.abs(c.differenceRatio) <= 0.15, `estimate ${Math.round(e.totalBytes / MiB)} MiB is ${(c.differenceRatio * 100).toFixed(1)}% off the measured 2838 MiB`);
    assert.equal(c.summary, 'estimate 2879 MiB, measured 2838 MiB (NVML, used VRAM before and after loading): 41 MiB (1.4%) above, within 15%');
  });
});

describe('GGUF estimate: models the formula does not fit', () => {
  for (const [name, spec, pattern] of [
    ['gemma-2-2b', GEMMA2_2B, /Gemma 2 2B It \(gemma2\) uses sliding-window attention/],
    ['deepseek-v2-lite', DEEPSEEK_V2_LITE, /DeepSeek-V2-Lite-Chat \(deepseek2\) uses multi-head latent attention/],
    ['mamba-130m', MAMBA_130M, /Mamba 130M \(mamba\) is a recurrent \(state-space\) model/],
  ] as const) {
    it(`${name}: "no estimate" with the reason, never a number`, async () => {
      const e = await estimateGgufFile(await writeGguf(name, spec), { contextLength: 4096, parallel: 1, kvCacheType: 'f16' });
      assert.equal(e.ok, false);
      assert.ok(isNoEstimate(e));
      assert.equal(e.kind, 'unsupported');
      assert.match(e.reason, pattern);
      assert.match(e.advice, /--need/);
      assert.equal(e.weightsBytes, 64 * 32 * 2 + 64 * 4, 'the weights alone are still told');
    });
  }

  it('a sliding_window key on any architecture is enough to refuse', () => {
    const e = summarizeGguf('x.gguf', { ...GEMMA2_2B.metadata, 'general.architecture': 'phi3', 'phi3.attention.sliding_window': 2047 }, [], 0);
    assert.ok(isNoEstimate(e));
    assert.match(e.reason, /sliding-window/);
  });

  it('an embedding model (non-causal) has no KV cache to estimate', () => {
    const e = summarizeGguf('bge.gguf', { 'general.architecture': 'bert', 'bert.attention.causal': false, 'bert.block_count': 12 }, [], 0);
    assert.ok(isNoEstimate(e));
    assert.match(e.reason, /embedding model/);
  });

  it('missing or malformed keys are named', () => {
    const e = summarizeGguf('odd.gguf', { 'general.architecture': 'llama', 'llama.block_count': 4, 'llama.embedding_length': 256, 'llama.attention.head_count': [4, 4] }, [], 0);
    assert.ok(isNoEstimate(e));
    assert.match(e.reason, /llama\.attention\.head_count has 2 values for 4 layers/);
    const none = summarizeGguf('none.gguf', {}, [], 0);
    assert.ok(isNoEstimate(none));
    assert.match(none.reason, /no general\.architecture/);
  });

  it('an unknown tensor type gives no estimate rather than a wrong weight sum', () => {
    const e = summarizeGguf('new.gguf', LLAMA_32_3B.metadata as Record<string, unknown>, [{ name: 'blk.0.attn_q.weight', shape: [256n, 256n], dtype: 99 }], 0);
    assert.ok(isNoEstimate(e));
    assert.match(e.reason, /ggml type 99/);
  });
});

describe('estimate against a measured figure', () => {
  it('shows the difference in MiB and percent, above or below', () => {
    const below = compareEstimate(2000 * MiB, { bytes: 2500 * MiB, by: 'Ollama size_vram' });
    assert.equal(below.differenceBytes, -500 * MiB);
    assert.equal(below.differenceRatio, -0.2);
    assert.equal(below.withinTolerance, false);
    assert.equal(below.summary, 'estimate 2000 MiB, measured 2500 MiB (Ollama size_vram): 500 MiB (20.0%) below, off by more than 15%');
    const same = compareEstimate(1024 * MiB, { bytes: 1024 * MiB, by: 'NVML, PID 4242' });
    assert.equal(same.withinTolerance, true);
    assert.match(same.summary, /the same, within 15%/);
    assert.equal(compareEstimate(110 * MiB, { bytes: 100 * MiB, by: 'x' }, 0.05).withinTolerance, false);
  });
});
