/**
 * Settings llama.cpp refuses when it creates the context (llama-context.cpp `llama_init_from_model`):
 * the estimate gives no figure and quotes llama.cpp's own message, as the server would print it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readGgufModel, type GgufModel } from '../../src/core/estimate/gguf-model.ts';
import { DEFAULT_LLAMA_SETTINGS, type LlamaSettings } from '../../src/core/estimate/llama-settings.ts';
import { estimateVram } from '../../src/core/estimate/vram-estimate.ts';
import { LLAMA_31_8B, writeGguf } from '../helpers/gguf-fixtures.ts';
import { transformerModel } from '../helpers/truth-models.ts';

async function refusal(name: string, spec: Parameters<typeof writeGguf>[1], settings: Partial<LlamaSettings>): Promise<string> {
  const m = (await readGgufModel(await writeGguf(name, spec, { sparse: true }))) as GgufModel;
  assert.equal(m.kind, 'model');
  const e = estimateVram(m, { ...DEFAULT_LLAMA_SETTINGS, ...settings });
  assert.equal(e.kind, 'none', 'llama.cpp refuses these settings, so there is no estimate');
  return e.kind === 'none' ? e.reason : '';
}

test('-ctv q8_0 with -fa off → no estimate, quoting "quantized V cache requires flash_attn to be enabled"', async () => {
  const reason = await refusal('refuse-qv-fa-off', LLAMA_31_8B, { contextTokens: 4096, flashAttention: 'off', cacheTypeK: 'q8_0', cacheTypeV: 'q8_0' });
  assert.match(reason, /llama-server would refuse these settings: llama\.cpp says "quantized V cache requires flash_attn to be enabled"/);
});

test('a latent-attention model with -ctk q8_0 and an f16 V cache → no estimate, quoting "model does not support different K (q8_0) and V (f16) cache types"', async () => {
  const mla = transformerModel({
    arch: 'deepseek2',
    name: 'MLA',
    layers: 4,
    embd: 2048,
    vocab: 1024,
    context: 4096,
    heads: 16,
    kvHeads: 16,
    headDim: 192,
    valueDim: 128,
    ff: 1024,
    recipe: 'q4_0',
    metadataOnly: true,
    metadata: { 'deepseek2.attention.kv_lora_rank': 512, 'deepseek2.rope.dimension_count': 64, 'deepseek2.attention.key_length_mla': 192 },
  });
  const reason = await refusal('refuse-mla-kv-types', mla, { contextTokens: 4096, cacheTypeK: 'q8_0' });
  assert.match(reason, /"model does not support different K \(q8_0\) and V \(f16\) cache types"/);
});

test('-ctk q8_0 with flash attention on heads of 72 elements → no estimate, quoting "K cache type q8_0 with block size 32 does not divide n_embd_head_k=72"', async () => {
  const odd = transformerModel({
    arch: 'llama',
    name: 'Head 72',
    layers: 2,
    embd: 1152,
    vocab: 1024,
    context: 4096,
    heads: 16,
    kvHeads: 16,
    headDim: 72,
    ff: 1024,
    recipe: 'q4_0',
    metadataOnly: true,
  });
  const reason = await refusal('refuse-k-block', odd, { contextTokens: 4096, flashAttention: 'on', cacheTypeK: 'q8_0' });
  assert.match(reason, /"K cache type q8_0 with block size 32 does not divide n_embd_head_k=72"/);
});
