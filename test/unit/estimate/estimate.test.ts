/**
 * The estimate core on shape-only GGUF files: what the header reader keeps and skips, split files as
 * one model, where llama.cpp puts each tensor, the cache types, llama-server's defaults and --fit.
 * Expected sizes come from the fixtures' own tensor list (fixtureTensorBytes) and from llama.cpp's
 * stated rules, not from the estimate's code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readGgufHeader } from '../../../src/core/estimate/gguf-header-reader.ts';
import { readGgufModel, type GgufModel } from '../../../src/core/estimate/gguf-model.ts';
import { DEFAULT_LLAMA_SETTINGS, type LlamaSettings } from '../../../src/core/estimate/llama-settings.ts';
import { estimateVram } from '../../../src/core/estimate/vram-estimate.ts';
import type { VramEstimate } from '../../../src/core/estimate/estimate-types.ts';
import { fixtureTensorBytes, LLAMA_31_8B, LLAMA_32_3B, writeGguf, type FixtureSpec } from '../../helpers/gguf-fixtures.ts';
import { transformerModel } from '../../helpers/truth-models.ts';
import { MiB } from '../../../src/core/units.ts';

async function model(name: string, spec: FixtureSpec): Promise<GgufModel> {
  const m = await readGgufModel(await writeGguf(name, spec, { sparse: true }));
  assert.equal(m.kind, 'model', m.kind === 'none' ? m.reason : '');
  return m as GgufModel;
}

function estimate(m: GgufModel, settings: Partial<LlamaSettings>, options = {}): VramEstimate {
  const e = estimateVram(m, { ...DEFAULT_LLAMA_SETTINGS, ...settings }, options);
  assert.equal(e.kind, 'estimate', e.kind === 'none' ? e.reason : '');
  return e as VramEstimate;
}

const bytesOf = (spec: FixtureSpec, pick: (name: string) => boolean) => spec.tensors.filter((t) => pick(t.name)).reduce((s, t) => s + fixtureTensorBytes(t), 0);

const QWEN3_MOE = transformerModel({
  arch: 'qwen3moe',
  name: 'MoE test',
  layers: 12,
  embd: 1024,
  vocab: 32000,
  context: 32768,
  heads: 16,
  kvHeads: 4,
  headDim: 64,
  ff: 3072,
  qkNorm: true,
  moe: { experts: 16, used: 4, ff: 512 },
  recipe: 'q4_k_m',
});

describe('estimate core: the GGUF header reader', () => {
  it('keeps metadata and tensor infos, walks over the tokenizer without keeping it', async () => {
    const tokens = Array.from({ length: 5000 }, (_, i) => `t${i}`);
    const path = await writeGguf(
      'reader-tokenizer',
      { ...LLAMA_32_3B, metadata: { ...LLAMA_32_3B.metadata, 'tokenizer.ggml.tokens': tokens } },
      { sparse: true },
    );
    const r = await readGgufHeader(path);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    const h = r.header;
    assert.equal(h.metadata.get('general.architecture'), 'llama');
    assert.equal(h.metadata.get('llama.block_count'), 28);
    assert.deepEqual(h.metadata.get('tokenizer.ggml.tokens'), { kind: 'array', itemType: 8, length: 5000, items: null });
    assert.equal(h.tensors.length, LLAMA_32_3B.tensors.length);
    assert.deepEqual(h.tensors[1]!.shape, [3072, 128256]);
    assert.equal(h.dataOffset % 32, 0);
  });

  it('reads a model split in three files as one, and refuses a later shard with the first one named', async () => {
    const count = 3;
    const per = Math.ceil(LLAMA_31_8B.tensors.length / count);
    let first = '';
    for (let i = 0; i < count; i++) {
      const split = {
        'split.no': { value: i, type: 2 },
        'split.count': { value: count, type: 2 },
        'split.tensors.count': { value: LLAMA_31_8B.tensors.length, type: 5 },
      };
      const spec: FixtureSpec = {
        metadata: i === 0 ? { ...LLAMA_31_8B.metadata, ...split } : split,
        tensors: LLAMA_31_8B.tensors.slice(i * per, (i + 1) * per),
      };
      const p = await writeGguf(`split8b-${String(i + 1).padStart(5, '0')}-of-00003`, spec, { sparse: true });
      if (i === 0) first = p;
    }
    const m = await readGgufModel(first);
    assert.equal(m.kind, 'model');
    if (m.kind !== 'model') return;
    assert.equal(m.files.length, 3);
    assert.equal(m.tensors.length, LLAMA_31_8B.tensors.length);
    const second = await readGgufModel(first.replace('00001-of', '00002-of'));
    assert.equal(second.kind, 'none');
    if (second.kind === 'none') assert.match(second.reason, /shard 2 of a 3-file split model: give the first file/);
  });
});

describe('estimate core: weights on the GPU', () => {
  it('full offload keeps the token embedding on the CPU and everything else on the GPU', async () => {
    const m = await model('w-8b', LLAMA_31_8B);
    const e = estimate(m, { contextTokens: 4096, parallel: 1 });
    const expected = bytesOf(LLAMA_31_8B, (n) => n !== 'token_embd.weight');
    // CUDA buffers align each tensor to 128 bytes: a few KiB over the tensor data.
    assert.ok(e.parts.weightsBytes >= expected && e.parts.weightsBytes - expected < MiB, `${e.parts.weightsBytes} vs ${expected}`);
  });

  it('tied embeddings: the output layer is a second copy of the token embedding on the GPU', async () => {
    const m = await model('w-3b', LLAMA_32_3B);
    const e = estimate(m, { contextTokens: 4096, parallel: 1 });
    const all = bytesOf(LLAMA_32_3B, () => true);
    assert.ok(e.parts.weightsBytes >= all && e.parts.weightsBytes - all < MiB);
  });

  it('-ngl 10 of 32 (llama.cpp v0.5.0: "offloading output layer to GPU", "offloading 9 repeating layers to GPU"): the output layer and the last 9 layers, and their KV cache', async () => {
    const m = await model('w-8b-ngl', LLAMA_31_8B);
    const e = estimate(m, { contextTokens: 4096, parallel: 1, gpuLayers: 10 });
    const expected = bytesOf(LLAMA_31_8B, (n) => /^blk\.(2[3-9]|3[01])\./.test(n) || n === 'output.weight' || n === 'output_norm.weight');
    assert.ok(e.parts.weightsBytes >= expected && e.parts.weightsBytes - expected < MiB, `${e.parts.weightsBytes} vs ${expected}`);
    assert.equal(e.assumptions.gpuLayers, 9);
    // Each layer's cache follows its layer: 9 of 32 layers × 4096 cells × (1024 K + 1024 V) f16.
    assert.equal(e.parts.kvCacheBytes, 9 * 4096 * 2048 * 2);
    const none = estimate(m, { contextTokens: 4096, parallel: 1, gpuLayers: 0 });
    assert.equal(none.parts.weightsBytes, 0);
    assert.equal(none.parts.kvCacheBytes, 0);
    // The layers' large-batch matrix products still run on the GPU (op offload, on by default): at
    // least the largest weight matrix copied in and one layer's feed-forward activations.
    const ffn = bytesOf(LLAMA_31_8B, (n) => n === 'blk.0.ffn_down.weight');
    assert.ok(none.parts.computeBufferBytes >= ffn + 3 * 14336 * 512 * 4, `${none.parts.computeBufferBytes}`);
    // --no-op-offload: nothing on the GPU (llama.cpp's dry run reserves 0 bytes there).
    const noOffload = estimate(m, { contextTokens: 4096, parallel: 1, gpuLayers: 0, opOffload: false });
    assert.equal(noOffload.parts.computeBufferBytes, 0);
    const one = estimate(m, { contextTokens: 4096, parallel: 1, gpuLayers: 1 });
    assert.equal(one.assumptions.gpuLayers, 0);
    assert.ok(Math.abs(one.parts.weightsBytes - bytesOf(LLAMA_31_8B, (n) => n.startsWith('output'))) < MiB);
  });

  it('--n-cpu-moe 5 keeps the experts of layers 0–4 on the CPU; --cpu-moe all of them; -ot PATTERN=CPU the matching tensors', async () => {
    const m = await model('w-moe', QWEN3_MOE);
    const full = estimate(m, { contextTokens: 4096, parallel: 1 }).parts.weightsBytes;
    const exps = (layers: (l: number) => boolean) => bytesOf(QWEN3_MOE, (n) => /_exps\./.test(n) && layers(Number(/^blk\.(\d+)\./.exec(n)![1])));
    const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < MiB, `${a} vs ${b}`);
    near(
      full - estimate(m, { contextTokens: 4096, parallel: 1, cpuMoeLayers: 5 }).parts.weightsBytes,
      exps((l) => l < 5),
    );
    near(
      full - estimate(m, { contextTokens: 4096, parallel: 1, cpuMoeAll: true }).parts.weightsBytes,
      exps(() => true),
    );
    near(
      full - estimate(m, { contextTokens: 4096, parallel: 1, cpuTensorPatterns: ['blk\\.(1[01])\\.ffn_(up|down|gate)_exps'] }).parts.weightsBytes,
      exps((l) => l >= 10),
    );
    const bad = estimateVram(m, { ...DEFAULT_LLAMA_SETTINGS, cpuTensorPatterns: ['blk\\.(['] });
    assert.equal(bad.kind, 'none');
    if (bad.kind === 'none') assert.match(bad.reason, /not a valid regular expression/);
  });
});

describe('estimate core: the KV cache and llama-server defaults', () => {
  it('q8_0 K and V with flash attention: 34 bytes per 32 elements, the context padded to 256', async () => {
    const m = await model('kv-8b', LLAMA_31_8B);
    const e = estimate(m, { contextTokens: 8000, parallel: 1, flashAttention: 'on', cacheTypeK: 'q8_0', cacheTypeV: 'q8_0' });
    // 8000 → 8192 cells; 32 layers × (1024 K + 1024 V elements) × 34/32 bytes.
    assert.equal(e.parts.kvCacheBytes, 8192 * 32 * 2 * ((1024 / 32) * 34));
    assert.equal(e.assumptions.contextTokens, 8192);
  });

  it('a quantized V cache with -fa auto turns flash attention on (llama.cpp: "enabling flash_attn since it is required for quantized V cache")', async () => {
    const m = await model('kv-8b-fa-auto-q8', LLAMA_31_8B);
    const e = estimate(m, { contextTokens: 4096, parallel: 1, cacheTypeK: 'q8_0', cacheTypeV: 'q8_0' });
    assert.equal(e.assumptions.flashAttention, 'on');
    assert.equal(e.assumptions.cacheTypeV, 'q8_0');
    assert.equal(e.parts.kvCacheBytes, 4096 * 32 * 2 * ((1024 / 32) * 34));
    assert.ok(e.assumptions.notes.some((n) => /-ctv q8_0: llama.cpp turns flash attention on/.test(n)));
  });

  it("-fa auto with -ctk q8_0 and an f16 V cache: on (ggml-cuda's supports_op checks each cache type on its own, fattn.cu ggml_cuda_get_best_fattn_kernel)", async () => {
    const m = await model('kv-mixed', LLAMA_32_3B);
    const e = estimate(m, { contextTokens: 8192, parallel: 1, flashAttention: 'auto', cacheTypeK: 'q8_0' });
    assert.equal(e.assumptions.flashAttention, 'on');
    const iq = estimate(m, { contextTokens: 8192, parallel: 1, flashAttention: 'auto', cacheTypeK: 'iq4_nl' });
    assert.equal(iq.assumptions.flashAttention, 'off', 'no CUDA flash-attention kernel reads an iq4_nl cache');
  });

  it('-fa auto with head size 512 (Gemma 4 full-attention layers): on with grouped queries, off without (ggml-cuda fattn.cu: case 512 needs gqa_opt_applies)', async () => {
    const gemma4 = (kvHeads: number) =>
      transformerModel({
        arch: 'gemma4',
        name: `Gemma 4 shape, ${kvHeads} KV heads`,
        layers: 12,
        embd: 2560,
        vocab: 262144,
        context: 131072,
        heads: 8,
        kvHeads,
        headDim: 512,
        ff: 10240,
        recipe: 'q4_0',
        metadataOnly: true,
        metadata: { 'gemma4.attention.sliding_window': 512, 'gemma4.attention.key_length_swa': 256, 'gemma4.attention.value_length_swa': 256 },
      });
    const grouped = estimate(await model('gemma4-gqa', gemma4(1)), { contextTokens: 8192, parallel: 1 });
    assert.equal(grouped.assumptions.flashAttention, 'on');
    const ungrouped = estimate(await model('gemma4-mha', gemma4(8)), { contextTokens: 8192, parallel: 1 });
    assert.equal(ungrouped.assumptions.flashAttention, 'off');
    assert.ok(ungrouped.assumptions.notes.some((n) => /head size 512 has a CUDA flash-attention kernel only for grouped queries/.test(n)));
  });

  it('no -c, no -np, no -fa: the training context, 4 unified slots, flash attention on — each named', async () => {
    const m = await model('defaults-8b', LLAMA_31_8B);
    const e = estimate(m, {});
    assert.equal(e.assumptions.contextTokens, 131072);
    assert.equal(e.assumptions.parallel, 4);
    assert.equal(e.assumptions.kvUnified, true);
    assert.equal(e.assumptions.flashAttention, 'on');
    assert.ok(e.assumptions.notes.some((n) => n.includes("no -c: the model's training context, 131072 tokens")));
    assert.ok(e.assumptions.notes.some((n) => n.includes('no -np')));
    // One unified cache of 131072 cells: 32 layers × 2048 elements × 2 bytes each.
    assert.equal(e.parts.kvCacheBytes, 131072 * 32 * 2048 * 2);
  });

  it('-np 4 without a unified cache: 4 streams of n_ctx / 4 cells, each padded to 256', async () => {
    const m = await model('np4-8b', LLAMA_31_8B);
    const e = estimate(m, { contextTokens: 10000, parallel: 4 });
    assert.equal(e.assumptions.kvUnified, false);
    // 10000 → 10240 total → 2560 per stream (already a multiple of 256) → 10240 cells.
    assert.equal(e.assumptions.contextTokens, 4 * 2560);
  });

  it('--fit with the free memory known lowers a context that was not given, and says the server takes all but the margin', async () => {
    const m = await model('fit-8b', LLAMA_31_8B);
    const free = 8 * 1024 * MiB;
    const e = estimate(m, {}, { gpuFreeBytes: free });
    assert.ok(e.assumptions.contextTokens < 131072 && e.assumptions.contextTokens >= 4096);
    assert.ok(e.totalBytes <= free - 1024 * MiB, `${e.totalBytes} > ${free - 1024 * MiB}`);
    assert.ok(e.assumptions.notes.some((n) => /--fit .* the context lowered to \d+ tokens/.test(n)));
    const given = estimate(m, { contextTokens: 131072 }, { gpuFreeBytes: free });
    assert.equal(given.assumptions.contextTokens, 131072, 'a context the arguments give is not changed');
  });

  it('a recurrent model has no KV cache and a state per slot that ignores the context', async () => {
    const mamba: FixtureSpec = {
      metadata: {
        'general.architecture': 'mamba',
        'mamba.block_count': 24,
        'mamba.context_length': 2 ** 20,
        'mamba.embedding_length': 768,
        'mamba.ssm.conv_kernel': 4,
        'mamba.ssm.inner_size': 1536,
        'mamba.ssm.state_size': 16,
        'mamba.ssm.time_step_rank': 48,
      },
      tensors: [{ name: 'token_embd.weight', shape: [768, 50280], type: 1 }],
    };
    const m = await model('mamba', mamba);
    const one = estimate(m, { contextTokens: 4096, parallel: 1 });
    const two = estimate(m, { contextTokens: 65536, parallel: 2 });
    assert.equal(one.parts.kvCacheBytes, 0);
    // Per layer and slot: conv (4−1) × 1536 and SSM 16 × 1536 values in f32.
    assert.equal(one.parts.recurrentStateBytes, 24 * 4 * (3 * 1536 + 16 * 1536));
    assert.equal(two.parts.recurrentStateBytes, 2 * one.parts.recurrentStateBytes);
  });
});
