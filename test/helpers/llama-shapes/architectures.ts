/**
 * Small but real-shaped models the real llama.cpp loads, one per architecture family whose memory
 * the estimate sizes differently: dense (llama, qwen2 with QKV biases, qwen3 with QK norms), sliding
 * window (gemma3), experts (qwen3moe), sliding window and experts with MXFP4 (gpt-oss), multi-head
 * latent attention (deepseek2), Mamba-2 hybrid (granitehybrid), short-convolution hybrid (lfm2) and
 * gated-delta-net hybrid (qwen3next). The tensor names, shapes and metadata keys follow llama.cpp's
 * loaders (src/models/<arch>.cpp, src/llama-arch.cpp); the vocabulary is a real SentencePiece one
 * (gguf-vocab.ts); the files are sparse (no weights).
 *
 * The sizes are chosen so every part is large enough to compare (weights of hundreds of MiB, caches
 * of tens to hundreds) while each tensor stays in one Vulkan buffer of lavapipe (< 128 MiB).
 */
import type { FixtureSpec, FixtureTensor, FixtureValue } from '../gguf-fixtures.ts';
import { spmByteVocab } from '../gguf-vocab.ts';
import { GGUFValueType } from '@huggingface/gguf';
import { GGML, transformerModel, visionProjector, type TransformerSpec, type VisionProjectorSpec } from '../truth-models.ts';

export interface ShapeModel {
  /** A short id for names and tables ("qwen3moe"). */
  readonly id: string;
  readonly arch: string;
  /** What the shape exercises, for the docs. */
  readonly covers: string;
  readonly layers: number;
  readonly spec: () => FixtureSpec;
  /** Traits the settings matrix picks cases by. */
  readonly traits: { readonly experts?: boolean; readonly swa?: boolean; readonly recurrent?: boolean; readonly mla?: boolean; readonly mtp?: boolean };
}

const VOCAB = 32000;

/** A float metadata value (a whole number would be written as an integer). */
const f32 = (value: number): FixtureValue => ({ value, type: GGUFValueType.FLOAT32 });
/** A per-layer u32 array. */
const u32s = (value: number[]): FixtureValue => ({ value, type: GGUFValueType.ARRAY, subType: GGUFValueType.UINT32 });

/** A transformer from truth-models.ts with what llama.cpp needs to load it: norm epsilon, rope dimensions, a tokenizer. */
function transformer(spec: Omit<TransformerSpec, 'vocab' | 'context'> & { context?: number }): FixtureSpec {
  const a = spec.arch;
  const out = transformerModel({
    ...spec,
    vocab: VOCAB,
    context: spec.context ?? 32768,
    metadata: {
      [`${a}.attention.layer_norm_rms_epsilon`]: 1e-6,
      [`${a}.rope.dimension_count`]: spec.headDim,
      [`${a}.rope.freq_base`]: f32(1000000),
      ...spmByteVocab(VOCAB),
      ...spec.metadata,
    },
  });
  return out;
}

/** A tensor list builder with the recipe's types: matrices `matrixType`, vectors and routers F32. */
class Tensors {
  readonly list: FixtureTensor[] = [];
  private readonly matrixType: number;
  constructor(matrixType: number) {
    this.matrixType = matrixType;
  }
  add(name: string, shape: number[], type?: number): this {
    const vector = shape.length === 1 || name.endsWith('.bias') || name.includes('ffn_gate_inp') || /ssm_(a|d|conv1d|norm|dt)/.test(name);
    this.list.push({ name, shape, type: type ?? (vector ? GGML.F32 : this.matrixType) });
    return this;
  }
}

function base(arch: string, layers: number, embd: number, extra: Record<string, FixtureValue>): Record<string, FixtureValue> {
  return {
    'general.architecture': arch,
    'general.name': `${arch} shape`,
    [`${arch}.block_count`]: layers,
    [`${arch}.context_length`]: 32768,
    [`${arch}.embedding_length`]: embd,
    [`${arch}.attention.layer_norm_rms_epsilon`]: 1e-6,
    [`${arch}.rope.freq_base`]: f32(10000),
    [`${arch}.vocab_size`]: VOCAB,
    ...spmByteVocab(VOCAB),
    ...extra,
  };
}

/**
 * DeepSeek-V2-style multi-head latent attention with the split attn_k_b / attn_v_b (the compressed cache), a dense first layer, shared experts;
 * with `nextn`, that many multi-token-prediction layers appended (GLM-4.7-Flash style: a full MoE layer plus its `nextn.*` tensors,
 * counted in block_count and named by `nextn_predict_layers`).
 */
function deepseek2(nextn = 0, arch: 'deepseek2' | 'deepseek32' = 'deepseek2'): FixtureSpec {
  const dsa = arch === 'deepseek32';
  const indexerHeads = 8;
  const indexerHead = 128;
  const L = 8 + nextn;
  const E = 1024;
  const heads = 16;
  const qLora = 512;
  const kvLora = 512;
  const rope = 64;
  const kMla = 192;
  const vMla = 128;
  const experts = 16;
  const ffExp = 512;
  const ff = 2816;
  const t = new Tensors(GGML.Q8_0);
  t.add('token_embd.weight', [E, VOCAB]).add('output_norm.weight', [E]).add('output.weight', [E, VOCAB], GGML.Q6_K);
  for (let i = 0; i < L; i++) {
    const b = `blk.${i}.`;
    t.add(`${b}attn_norm.weight`, [E]).add(`${b}attn_q_a_norm.weight`, [qLora]).add(`${b}attn_kv_a_norm.weight`, [kvLora]);
    t.add(`${b}attn_q_a.weight`, [E, qLora]).add(`${b}attn_q_b.weight`, [qLora, heads * kMla]);
    t.add(`${b}attn_kv_a_mqa.weight`, [E, kvLora + rope]);
    t.add(`${b}attn_k_b.weight`, [kMla - rope, kvLora, heads]).add(`${b}attn_v_b.weight`, [kvLora, vMla, heads]);
    t.add(`${b}attn_output.weight`, [heads * vMla, E]).add(`${b}ffn_norm.weight`, [E]);
    if (dsa) {
      t.add(`${b}indexer.k_norm.weight`, [indexerHead]).add(`${b}indexer.k_norm.bias`, [indexerHead]);
      t.add(`${b}indexer.proj.weight`, [E, indexerHeads], GGML.F32).add(`${b}indexer.attn_k.weight`, [E, indexerHead]);
      t.add(`${b}indexer.attn_q_b.weight`, [qLora, indexerHeads * indexerHead]);
    }
    if (i === 0) {
      t.add(`${b}ffn_gate.weight`, [E, ff]).add(`${b}ffn_up.weight`, [E, ff]).add(`${b}ffn_down.weight`, [ff, E]);
    } else {
      t.add(`${b}ffn_gate_inp.weight`, [E, experts]);
      t.add(`${b}ffn_gate_exps.weight`, [E, ffExp, experts])
        .add(`${b}ffn_up_exps.weight`, [E, ffExp, experts])
        .add(`${b}ffn_down_exps.weight`, [ffExp, E, experts]);
      t.add(`${b}ffn_gate_shexp.weight`, [E, ffExp]).add(`${b}ffn_up_shexp.weight`, [E, ffExp]).add(`${b}ffn_down_shexp.weight`, [ffExp, E]);
    }
    if (i >= L - nextn) {
      t.add(`${b}nextn.eh_proj.weight`, [2 * E, E])
        .add(`${b}nextn.enorm.weight`, [E])
        .add(`${b}nextn.hnorm.weight`, [E]);
      t.add(`${b}nextn.shared_head_norm.weight`, [E]);
    }
  }
  const a = arch;
  return {
    metadata: base(a, L, E, {
      [`${a}.feed_forward_length`]: ff,
      [`${a}.attention.head_count`]: heads,
      [`${a}.attention.head_count_kv`]: 1,
      [`${a}.attention.key_length`]: kvLora + rope,
      [`${a}.attention.value_length`]: kvLora,
      [`${a}.attention.key_length_mla`]: kMla,
      [`${a}.attention.value_length_mla`]: vMla,
      [`${a}.attention.q_lora_rank`]: qLora,
      [`${a}.attention.kv_lora_rank`]: kvLora,
      [`${a}.rope.dimension_count`]: rope,
      [`${a}.leading_dense_block_count`]: 1,
      [`${a}.expert_count`]: experts,
      [`${a}.expert_used_count`]: 4,
      [`${a}.expert_shared_count`]: 1,
      [`${a}.expert_feed_forward_length`]: ffExp,
      [`${a}.expert_weights_scale`]: f32(1),
      ...(nextn > 0 ? { [`${a}.nextn_predict_layers`]: nextn } : {}),
      ...(dsa
        ? {
            [`${a}.attention.indexer.head_count`]: indexerHeads,
            [`${a}.attention.indexer.key_length`]: indexerHead,
            [`${a}.attention.indexer.top_k`]: 256,
            [`${a}.expert_gating_func`]: 2,
          }
        : {}),
    }),
    tensors: t.list,
  };
}

/** Granite 4 hybrid: Mamba-2 layers with an attention layer every fourth (head_count_kv 0 marks a recurrent layer). */
function graniteHybrid(): FixtureSpec {
  const L = 8;
  const E = 1024;
  const inner = 2 * E;
  const state = 128;
  const groups = 1;
  const ssmHeads = 32;
  const conv = 4;
  const heads = 16;
  const kvHeads = 4;
  const hd = 64;
  const ff = 3072;
  const attention = (i: number) => i % 4 === 3;
  const t = new Tensors(GGML.Q8_0);
  t.add('token_embd.weight', [E, VOCAB]).add('output_norm.weight', [E]);
  for (let i = 0; i < L; i++) {
    const b = `blk.${i}.`;
    t.add(`${b}attn_norm.weight`, [E]);
    if (attention(i)) {
      t.add(`${b}attn_q.weight`, [E, heads * hd])
        .add(`${b}attn_k.weight`, [E, kvHeads * hd])
        .add(`${b}attn_v.weight`, [E, kvHeads * hd]);
      t.add(`${b}attn_output.weight`, [heads * hd, E]);
    } else {
      t.add(`${b}ssm_in.weight`, [E, 2 * inner + 2 * groups * state + ssmHeads]);
      t.add(`${b}ssm_conv1d.weight`, [conv, inner + 2 * groups * state]).add(`${b}ssm_conv1d.bias`, [inner + 2 * groups * state]);
      t.add(`${b}ssm_dt.bias`, [ssmHeads]).add(`${b}ssm_a`, [1, ssmHeads]).add(`${b}ssm_d`, [1, ssmHeads]);
      t.add(`${b}ssm_norm.weight`, [inner / groups, groups]).add(`${b}ssm_out.weight`, [inner, E]);
    }
    t.add(`${b}ffn_norm.weight`, [E]).add(`${b}ffn_gate.weight`, [E, ff]).add(`${b}ffn_up.weight`, [E, ff]).add(`${b}ffn_down.weight`, [ff, E]);
  }
  const a = 'granitehybrid';
  return {
    metadata: base(a, L, E, {
      [`${a}.feed_forward_length`]: ff,
      [`${a}.attention.head_count`]: heads,
      [`${a}.attention.head_count_kv`]: u32s(Array.from({ length: L }, (_, i) => (attention(i) ? kvHeads : 0))),
      [`${a}.attention.key_length`]: hd,
      [`${a}.attention.value_length`]: hd,
      [`${a}.rope.dimension_count`]: hd,
      [`${a}.ssm.conv_kernel`]: conv,
      [`${a}.ssm.inner_size`]: inner,
      [`${a}.ssm.state_size`]: state,
      [`${a}.ssm.time_step_rank`]: ssmHeads,
      [`${a}.ssm.group_count`]: groups,
    }),
    tensors: t.list,
  };
}

/** LFM2: short-convolution layers with attention on a few (head_count_kv 0 marks a convolution layer); the output norm is named token_embd_norm. */
function lfm2(): FixtureSpec {
  const L = 10;
  const E = 1024;
  const heads = 16;
  const kvHeads = 8;
  const hd = E / heads;
  const ff = 4608;
  const cache = 3;
  const attention = (i: number) => i % 3 === 2;
  const t = new Tensors(GGML.Q8_0);
  t.add('token_embd.weight', [E, VOCAB]).add('token_embd_norm.weight', [E]);
  for (let i = 0; i < L; i++) {
    const b = `blk.${i}.`;
    t.add(`${b}attn_norm.weight`, [E]).add(`${b}ffn_norm.weight`, [E]);
    t.add(`${b}ffn_gate.weight`, [E, ff]).add(`${b}ffn_up.weight`, [E, ff]).add(`${b}ffn_down.weight`, [ff, E]);
    if (attention(i)) {
      t.add(`${b}attn_q_norm.weight`, [hd]).add(`${b}attn_k_norm.weight`, [hd]);
      t.add(`${b}attn_q.weight`, [E, E])
        .add(`${b}attn_k.weight`, [E, kvHeads * hd])
        .add(`${b}attn_v.weight`, [E, kvHeads * hd]);
      t.add(`${b}attn_output.weight`, [E, E]);
    } else {
      t.add(`${b}shortconv.conv.weight`, [cache, E], GGML.F32)
        .add(`${b}shortconv.in_proj.weight`, [E, 3 * E])
        .add(`${b}shortconv.out_proj.weight`, [E, E]);
    }
  }
  const a = 'lfm2';
  return {
    metadata: base(a, L, E, {
      [`${a}.feed_forward_length`]: ff,
      [`${a}.attention.head_count`]: heads,
      [`${a}.attention.head_count_kv`]: u32s(Array.from({ length: L }, (_, i) => (attention(i) ? kvHeads : 0))),
      [`${a}.rope.dimension_count`]: hd,
      [`${a}.shortconv.l_cache`]: cache,
    }),
    tensors: t.list,
  };
}

/** Qwen3-Next: gated delta net layers with gated attention every fourth, experts with a shared expert. */
function qwen3next(): FixtureSpec {
  const L = 8;
  const E = 1024;
  const heads = 8;
  const kvHeads = 2;
  const hd = 256;
  const state = 128;
  const groups = 4;
  const vHeads = 8;
  const inner = state * vHeads;
  const conv = 4;
  const experts = 16;
  const ffExp = 512;
  const keyDim = state * groups;
  const t = new Tensors(GGML.Q8_0);
  t.add('token_embd.weight', [E, VOCAB]).add('output_norm.weight', [E]).add('output.weight', [E, VOCAB], GGML.Q6_K);
  for (let i = 0; i < L; i++) {
    const b = `blk.${i}.`;
    t.add(`${b}attn_norm.weight`, [E]).add(`${b}post_attention_norm.weight`, [E]);
    if ((i + 1) % 4 === 0) {
      t.add(`${b}attn_q.weight`, [E, hd * heads * 2])
        .add(`${b}attn_k.weight`, [E, kvHeads * hd])
        .add(`${b}attn_v.weight`, [E, kvHeads * hd]);
      t.add(`${b}attn_output.weight`, [hd * heads, E])
        .add(`${b}attn_q_norm.weight`, [hd])
        .add(`${b}attn_k_norm.weight`, [hd]);
    } else {
      t.add(`${b}ssm_in.weight`, [E, keyDim * 2 + inner * 2]);
      t.add(`${b}ssm_conv1d.weight`, [conv, keyDim * 2 + inner])
        .add(`${b}ssm_dt.bias`, [vHeads])
        .add(`${b}ssm_a`, [vHeads]);
      t.add(`${b}ssm_ba.weight`, [E, vHeads * 2])
        .add(`${b}ssm_norm.weight`, [state])
        .add(`${b}ssm_out.weight`, [inner, E]);
    }
    t.add(`${b}ffn_gate_inp.weight`, [E, experts]);
    t.add(`${b}ffn_gate_exps.weight`, [E, ffExp, experts])
      .add(`${b}ffn_up_exps.weight`, [E, ffExp, experts])
      .add(`${b}ffn_down_exps.weight`, [ffExp, E, experts]);
    t.add(`${b}ffn_gate_inp_shexp.weight`, [E], GGML.F32);
    t.add(`${b}ffn_gate_shexp.weight`, [E, ffExp]).add(`${b}ffn_up_shexp.weight`, [E, ffExp]).add(`${b}ffn_down_shexp.weight`, [ffExp, E]);
  }
  const a = 'qwen3next';
  return {
    metadata: base(a, L, E, {
      [`${a}.feed_forward_length`]: 3072,
      [`${a}.attention.head_count`]: heads,
      [`${a}.attention.head_count_kv`]: kvHeads,
      [`${a}.attention.key_length`]: hd,
      [`${a}.attention.value_length`]: hd,
      [`${a}.rope.dimension_count`]: 64,
      [`${a}.expert_count`]: experts,
      [`${a}.expert_used_count`]: 4,
      [`${a}.expert_feed_forward_length`]: ffExp,
      [`${a}.expert_shared_feed_forward_length`]: ffExp,
      [`${a}.ssm.conv_kernel`]: conv,
      [`${a}.ssm.inner_size`]: inner,
      [`${a}.ssm.state_size`]: state,
      [`${a}.ssm.time_step_rank`]: vHeads,
      [`${a}.ssm.group_count`]: groups,
      [`${a}.full_attention_interval`]: 4,
    }),
    tensors: t.list,
  };
}

export const SHAPE_MODELS: readonly ShapeModel[] = [
  {
    id: 'llama',
    arch: 'llama',
    covers: 'dense, grouped-query attention, Q4_K_M',
    layers: 16,
    traits: {},
    spec: () => transformer({ arch: 'llama', name: 'llama shape', layers: 16, embd: 2048, heads: 32, kvHeads: 8, headDim: 64, ff: 5632, recipe: 'q4_k_m' }),
  },
  {
    id: 'qwen2',
    arch: 'qwen2',
    covers: 'dense, QKV biases, 2 KV heads of 128',
    layers: 28,
    traits: {},
    spec: () =>
      transformer({
        arch: 'qwen2',
        name: 'qwen2 shape',
        layers: 28,
        embd: 1536,
        heads: 12,
        kvHeads: 2,
        headDim: 128,
        ff: 8960,
        qkvBias: true,
        recipe: 'q4_k_m',
      }),
  },
  {
    id: 'qwen3',
    arch: 'qwen3',
    covers: 'dense, QK norms, tied embeddings',
    layers: 28,
    traits: {},
    spec: () =>
      transformer({
        arch: 'qwen3',
        name: 'qwen3 shape',
        layers: 28,
        embd: 1024,
        heads: 16,
        kvHeads: 8,
        headDim: 128,
        ff: 3072,
        qkNorm: true,
        tied: true,
        recipe: 'q4_k_m',
      }),
  },
  {
    id: 'gemma3',
    arch: 'gemma3',
    covers: 'sliding window (5 of 6 layers, 512 tokens), 256-wide heads, tied embeddings',
    layers: 26,
    traits: { swa: true },
    spec: () =>
      transformer({
        arch: 'gemma3',
        name: 'gemma3 shape',
        layers: 26,
        embd: 1536,
        heads: 4,
        kvHeads: 1,
        headDim: 256,
        ff: 6144,
        qkNorm: true,
        postNorms: true,
        tied: true,
        recipe: 'q4_k_m',
        metadata: { 'gemma3.attention.sliding_window': 512 },
      }),
  },
  {
    id: 'qwen3moe',
    arch: 'qwen3moe',
    covers: 'experts (32, 4 used)',
    layers: 12,
    traits: { experts: true },
    spec: () =>
      transformer({
        arch: 'qwen3moe',
        name: 'qwen3moe shape',
        layers: 12,
        embd: 1024,
        heads: 16,
        kvHeads: 4,
        headDim: 128,
        ff: 3072,
        qkNorm: true,
        moe: { experts: 32, used: 4, ff: 768 },
        recipe: 'q4_k_m',
      }),
  },
  {
    id: 'gpt-oss',
    arch: 'gpt-oss',
    covers: 'experts in MXFP4, sliding window on every other layer (128 tokens), attention sinks',
    layers: 8,
    traits: { experts: true, swa: true },
    spec: () =>
      transformer({
        arch: 'gpt-oss',
        name: 'gpt-oss shape',
        layers: 8,
        embd: 1024,
        heads: 16,
        kvHeads: 8,
        headDim: 64,
        ff: 1024,
        gptOss: true,
        moe: { experts: 32, used: 4, ff: 1024 },
        recipe: 'mxfp4_moe',
        metadata: { 'gpt-oss.attention.sliding_window': 128 },
      }),
  },
  {
    id: 'deepseek2',
    arch: 'deepseek2',
    covers: 'multi-head latent attention (compressed cache), shared experts',
    layers: 8,
    traits: { experts: true, mla: true },
    spec: () => deepseek2(),
  },
  {
    id: 'deepseek2-mtp',
    arch: 'deepseek2',
    covers: 'multi-token prediction (one NextN layer after 8, loaded only with --spec-type draft-mtp, its own draft KV cache)',
    layers: 9,
    traits: { experts: true, mla: true, mtp: true },
    spec: () => deepseek2(1),
  },
  {
    id: 'deepseek32',
    arch: 'deepseek32',
    covers: 'DeepSeek sparse attention: a lightning-indexer key cache beside the latent cache, and a NextN layer',
    layers: 9,
    traits: { experts: true, mla: true, mtp: true },
    spec: () => deepseek2(1, 'deepseek32'),
  },
  {
    id: 'granitehybrid',
    arch: 'granitehybrid',
    covers: 'Mamba-2 hybrid (attention every fourth layer)',
    layers: 8,
    traits: { recurrent: true },
    spec: graniteHybrid,
  },
  { id: 'lfm2', arch: 'lfm2', covers: 'short-convolution hybrid (attention every third layer)', layers: 10, traits: { recurrent: true }, spec: lfm2 },
  {
    id: 'qwen3next',
    arch: 'qwen3next',
    covers: 'gated delta net hybrid with experts (attention every fourth layer)',
    layers: 8,
    traits: { recurrent: true, experts: true },
    spec: qwen3next,
  },
];

export interface ProjectorShape {
  readonly id: string;
  readonly covers: string;
  /** The text model it is given with (`--mmproj`). */
  readonly textModel: string;
  readonly spec: () => FixtureSpec;
}

/** The truth set's Qwen-VL-merger projector layout with the keys clip.cpp needs to load it. */
export function loadableProjector(spec: VisionProjectorSpec): FixtureSpec {
  const out = visionProjector(spec);
  const rgb = { value: [0.5, 0.5, 0.5], type: GGUFValueType.ARRAY, subType: GGUFValueType.FLOAT32 };
  Object.assign(out.metadata, {
    'clip.use_gelu': true,
    'clip.vision.attention.layer_norm_epsilon': f32(1e-6),
    'clip.vision.image_mean': rgb,
    'clip.vision.image_std': rgb,
  });
  return out;
}

export const PROJECTOR_SHAPES: readonly ProjectorShape[] = [
  {
    id: 'mmproj-qwen3vl',
    covers: 'vision projector: Qwen3-VL merger, 24 layers of 1024, dynamic resolution up to 4 Mpixel, BF16',
    textModel: 'qwen3',
    spec: () =>
      loadableProjector({
        projectorType: 'qwen3vl_merger',
        layers: 24,
        embd: 1024,
        ff: 4096,
        heads: 16,
        imageSize: 768,
        patchSize: 16,
        projectionDim: 1024,
        merge: 2,
        imageMaxPixels: 2 ** 22,
      }),
  },
  {
    id: 'mmproj-qwen3vl-small',
    covers: 'vision projector: Qwen3-VL merger, 12 layers of 768, up to 1 Mpixel',
    textModel: 'qwen3',
    spec: () =>
      loadableProjector({
        projectorType: 'qwen3vl_merger',
        layers: 12,
        embd: 768,
        ff: 3072,
        heads: 12,
        imageSize: 768,
        patchSize: 16,
        projectionDim: 1024,
        merge: 2,
        imageMaxPixels: 2 ** 20,
      }),
  },
];
