/**
 * Shape-only GGUF models for the estimate's truth set: the tensor list llama.cpp's converter writes
 * for an architecture (names, shapes) at the sizes a published load log prints, with the tensor
 * types of a quantization recipe. No weights: the files are sparse.
 *
 * The recipes follow llama.cpp's `llama_tensor_get_type` for the file types the logs name:
 * - Q4_K_M: output.weight Q6_K; attn_v and ffn_down (dense or experts) Q6_K in the layers
 *   `use_more_bits` picks (first and last eighth, every third between), Q4_K otherwise; the token
 *   embedding Q4_K, or Q6_K when it doubles as the output (tied); norms, biases and the expert
 *   router (ffn_gate_inp) F32;
 * - MXFP4_MOE (gpt-oss): expert matrices MXFP4, every other matrix Q8_0, the rest F32.
 */
import type { FixtureSpec, FixtureTensor, FixtureValue } from './gguf-fixtures.ts';

export const GGML = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q6_K: 14, BF16: 30, MXFP4: 39 } as const;

export interface TransformerSpec {
  arch: string;
  name: string;
  layers: number;
  embd: number;
  vocab: number;
  context: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  valueDim?: number;
  ff: number;
  tied?: boolean;
  qkvBias?: boolean;
  /** gpt-oss: a bias on the output projection too, attention sinks, post-attention norm. */
  gptOss?: boolean;
  qkNorm?: boolean;
  moe?: { experts: number; used: number; ff: number };
  recipe: 'q4_k_m' | 'q4_0' | 'mxfp4_moe';
  /** Gemma 2: norms after the attention and after the feed-forward block too. */
  postNorms?: boolean;
  /** Extra metadata (sliding window, MLA, recurrent sizes …). */
  metadata?: Record<string, FixtureValue>;
  /** Write only the token embedding (for cases that check the cache alone). */
  metadataOnly?: boolean;
}

/** llama.cpp's `use_more_bits(i_layer, n_layers)`. */
export function useMoreBits(layer: number, layers: number): boolean {
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

function typeFor(spec: TransformerSpec, name: string, shape: number[], layer: number | null): number {
  if (shape.length === 1 || name.endsWith('.bias') || name.includes('ffn_gate_inp') || name.includes('attn_sinks')) return GGML.F32;
  if (spec.recipe === 'mxfp4_moe') return name.includes('_exps') ? GGML.MXFP4 : GGML.Q8_0;
  if (spec.recipe === 'q4_0') return name === 'output.weight' || (name === 'token_embd.weight' && spec.tied) ? GGML.Q6_K : GGML.Q4_0;
  if (name === 'output.weight') return GGML.Q6_K;
  if (name === 'token_embd.weight') return spec.tied ? GGML.Q6_K : GGML.Q4_K;
  if (layer !== null && (name.includes('attn_v.weight') || name.includes('ffn_down')) && useMoreBits(layer, spec.layers)) return GGML.Q6_K;
  return GGML.Q4_K;
}

export function transformerModel(spec: TransformerSpec): FixtureSpec {
  const hd = spec.headDim;
  const vd = spec.valueDim ?? hd;
  const q = spec.heads * hd;
  const kv = spec.kvHeads * hd;
  const kvV = spec.kvHeads * vd;
  const tensors: FixtureTensor[] = [];
  const add = (name: string, shape: number[], layer: number | null = null) => tensors.push({ name, shape, type: typeFor(spec, name, shape, layer) });
  add('token_embd.weight', [spec.embd, spec.vocab]);
  if (!spec.metadataOnly) {
    add('output_norm.weight', [spec.embd]);
    if (!spec.tied) add('output.weight', [spec.embd, spec.vocab]);
    for (let i = 0; i < spec.layers; i++) {
      const b = `blk.${i}.`;
      add(`${b}attn_norm.weight`, [spec.embd], i);
      add(`${b}attn_q.weight`, [spec.embd, q], i);
      if (spec.qkvBias || spec.gptOss) add(`${b}attn_q.bias`, [q], i);
      add(`${b}attn_k.weight`, [spec.embd, kv], i);
      if (spec.qkvBias || spec.gptOss) add(`${b}attn_k.bias`, [kv], i);
      add(`${b}attn_v.weight`, [spec.embd, kvV], i);
      if (spec.qkvBias || spec.gptOss) add(`${b}attn_v.bias`, [kvV], i);
      add(`${b}attn_output.weight`, [spec.heads * vd, spec.embd], i);
      if (spec.gptOss) {
        add(`${b}attn_output.bias`, [spec.embd], i);
        add(`${b}attn_sinks.weight`, [spec.heads], i);
      }
      if (spec.qkNorm) {
        add(`${b}attn_q_norm.weight`, [hd], i);
        add(`${b}attn_k_norm.weight`, [hd], i);
      }
      add(spec.gptOss ? `${b}post_attention_norm.weight` : `${b}ffn_norm.weight`, [spec.embd], i);
      if (spec.postNorms) {
        add(`${b}post_attention_norm.weight`, [spec.embd], i);
        add(`${b}post_ffw_norm.weight`, [spec.embd], i);
      }
      if (spec.moe) {
        const { experts, ff } = spec.moe;
        add(`${b}ffn_gate_inp.weight`, [spec.embd, experts], i);
        if (spec.gptOss) add(`${b}ffn_gate_inp.bias`, [experts], i);
        add(`${b}ffn_gate_exps.weight`, [spec.embd, ff, experts], i);
        if (spec.gptOss) add(`${b}ffn_gate_exps.bias`, [ff, experts], i);
        add(`${b}ffn_up_exps.weight`, [spec.embd, ff, experts], i);
        if (spec.gptOss) add(`${b}ffn_up_exps.bias`, [ff, experts], i);
        add(`${b}ffn_down_exps.weight`, [ff, spec.embd, experts], i);
        if (spec.gptOss) add(`${b}ffn_down_exps.bias`, [spec.embd, experts], i);
      } else {
        add(`${b}ffn_gate.weight`, [spec.embd, spec.ff], i);
        add(`${b}ffn_up.weight`, [spec.embd, spec.ff], i);
        add(`${b}ffn_down.weight`, [spec.ff, spec.embd], i);
      }
    }
  }
  const a = spec.arch;
  const metadata: Record<string, FixtureValue> = {
    'general.architecture': a,
    'general.name': spec.name,
    [`${a}.block_count`]: spec.layers,
    [`${a}.context_length`]: spec.context,
    [`${a}.embedding_length`]: spec.embd,
    [`${a}.feed_forward_length`]: spec.ff,
    [`${a}.attention.head_count`]: spec.heads,
    [`${a}.attention.head_count_kv`]: spec.kvHeads,
    [`${a}.attention.key_length`]: hd,
    [`${a}.attention.value_length`]: vd,
    [`${a}.vocab_size`]: spec.vocab,
    ...(spec.moe
      ? { [`${a}.expert_count`]: spec.moe.experts, [`${a}.expert_used_count`]: spec.moe.used, [`${a}.expert_feed_forward_length`]: spec.moe.ff }
      : {}),
    ...spec.metadata,
  };
  return { metadata, tensors };
}

/** Counts of tensors per ggml type name, as llama_model_loader prints them ("q4_K: 169"). */
export function typeCounts(spec: FixtureSpec): Record<string, number> {
  const names: Record<number, string> = { 0: 'f32', 1: 'f16', 2: 'q4_0', 8: 'q8_0', 12: 'q4_K', 14: 'q6_K', 30: 'bf16', 39: 'mxfp4' };
  const out: Record<string, number> = {};
  for (const t of spec.tensors) out[names[t.type] ?? String(t.type)] = (out[names[t.type] ?? String(t.type)] ?? 0) + 1;
  return out;
}

export interface VisionProjectorSpec {
  projectorType: string;
  layers: number;
  embd: number;
  ff: number;
  heads: number;
  imageSize: number;
  patchSize: number;
  projectionDim: number;
  /** Patches merged into one token (2: a 2×2 merge, the merger's input is 4 × embd). */
  merge: number;
  imageMaxPixels?: number;
}

/**
 * A CLIP-style vision projector in the layout llama.cpp's converter writes for the Qwen VL mergers:
 * a two-frame patch embedding, learned positions for the native image size, `layers` encoder
 * blocks with a fused QKV, a post norm and a two-layer merger; matrices BF16, the rest F32.
 */
export function visionProjector(spec: VisionProjectorSpec): FixtureSpec {
  const E = spec.embd;
  const tensors: FixtureTensor[] = [];
  const add = (name: string, shape: number[]) =>
    tensors.push({ name, shape, type: shape.length === 1 || name.includes('position_embd') ? GGML.F32 : GGML.BF16 });
  add('v.patch_embd.weight', [spec.patchSize, spec.patchSize, 3, E]);
  add('v.patch_embd.weight.1', [spec.patchSize, spec.patchSize, 3, E]);
  add('v.patch_embd.bias', [E]);
  const side = spec.imageSize / spec.patchSize;
  add('v.position_embd.weight', [E, side * side]);
  for (let i = 0; i < spec.layers; i++) {
    const b = `v.blk.${i}.`;
    add(`${b}ln1.weight`, [E]);
    add(`${b}ln1.bias`, [E]);
    add(`${b}attn_qkv.weight`, [E, 3 * E]);
    add(`${b}attn_qkv.bias`, [3 * E]);
    add(`${b}attn_out.weight`, [E, E]);
    add(`${b}attn_out.bias`, [E]);
    add(`${b}ln2.weight`, [E]);
    add(`${b}ln2.bias`, [E]);
    add(`${b}ffn_up.weight`, [E, spec.ff]);
    add(`${b}ffn_up.bias`, [spec.ff]);
    add(`${b}ffn_down.weight`, [spec.ff, E]);
    add(`${b}ffn_down.bias`, [E]);
  }
  add('v.post_ln.weight', [E]);
  add('v.post_ln.bias', [E]);
  const merged = E * spec.merge * spec.merge;
  add('mm.0.weight', [merged, merged]);
  add('mm.0.bias', [merged]);
  add('mm.2.weight', [merged, spec.projectionDim]);
  add('mm.2.bias', [spec.projectionDim]);
  return {
    metadata: {
      'general.architecture': 'clip',
      'clip.has_vision_encoder': true,
      'clip.projector_type': spec.projectorType,
      'clip.vision.block_count': spec.layers,
      'clip.vision.embedding_length': E,
      'clip.vision.feed_forward_length': spec.ff,
      'clip.vision.attention.head_count': spec.heads,
      'clip.vision.image_size': spec.imageSize,
      'clip.vision.patch_size': spec.patchSize,
      'clip.vision.projection_dim': spec.projectionDim,
      'clip.vision.spatial_merge_size': spec.merge,
      ...(spec.imageMaxPixels ? { 'clip.vision.image_max_pixels': spec.imageMaxPixels } : {}),
    },
    tensors,
  };
}
