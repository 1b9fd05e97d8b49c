/**
 * The compute buffer llama.cpp reserves on the GPU: ggml-alloc plans the worst-case graph (a full
 * micro-batch of `n_ubatch` tokens, every token an output, the whole cache visible) and the buffer
 * is the peak of the tensors alive at once. The peak is at one of three places of the graph:
 *
 * - attention: the KQ mask input (f32, `n_kv × n_tokens`, plus its f16 copy with flash attention)
 *   and, without flash attention, the scores `n_kv × n_tokens × n_head` in f32 that soft-max
 *   rewrites in place; with flash attention only the mask grows with the context;
 * - the feed-forward block: gate, up and their product, `n_ff × n_tokens` f32 each (for a mixture
 *   of experts, the selected experts' `n_ff_exp × n_expert_used × n_tokens`);
 * - the output: the logits, `n_vocab × n_outputs` f32, beside the normalised hidden state.
 * plus the hidden states carried across (the residual stream), `n_embd × n_tokens` f32 each.
 *
 * When the output layer stays on the CPU (`-ngl` ≤ layers) the logits are computed there.
 */
import type { GgufModel } from './gguf-model.ts';
import { layerAttentionSize } from './kv-cache-size.ts';

const F32 = 4;
const F16 = 2;
/** GGML_KQ_MASK_PAD: the mask's token dimension is padded to this. */
const KQ_MASK_PAD = 64;

export interface ComputeShape {
  /** Tokens of the micro-batch the graph is reserved for (min(n_ubatch, n_ctx)). */
  readonly tokens: number;
  /** Cells the full-attention layers see (the whole cache), and the sliding-window ones. */
  readonly kvCells: number;
  readonly swaKvCells: number;
  readonly flashAttention: boolean;
  readonly outputOnGpu: boolean;
  /** Any layer on the GPU at all. */
  readonly anyLayerOnGpu: boolean;
}

export interface ComputeBreakdown {
  readonly attentionBytes: number;
  readonly feedForwardBytes: number;
  readonly outputBytes: number;
  readonly totalBytes: number;
}

export function computeBufferBytes(model: GgufModel, shape: ComputeShape): ComputeBreakdown {
  if (!shape.anyLayerOnGpu && !shape.outputOnGpu) return { attentionBytes: 0, feedForwardBytes: 0, outputBytes: 0, totalBytes: 0 };
  const n = shape.tokens;
  const hidden = model.embeddingLength * n * F32;
  const maskTokens = Math.ceil(n / KQ_MASK_PAD) * KQ_MASK_PAD;

  let attention = 0;
  for (let il = 0; il < model.layers; il++) {
    const { kElements } = layerAttentionSize(model, il);
    if (kElements === 0) continue;
    const cells = model.swaLayers[il] ? shape.swaKvCells : shape.kvCells;
    const mask = cells * maskTokens * F32 + (shape.flashAttention ? cells * maskTokens * F16 : 0);
    const scores = shape.flashAttention ? 0 : cells * n * (model.headCount[il] ?? 0) * F32;
    const qkv = (model.headCount[il] ?? 0) * model.keyLength * n * F32 * 3;
    attention = Math.max(attention, mask + scores + qkv + 2 * hidden);
  }

  let ff: number;
  if (model.expertCount > 0) {
    const expertFf = expertFeedForward(model);
    ff = 3 * expertFf * model.expertUsedCount * n * F32 + model.expertCount * n * F32 + 2 * hidden;
  } else {
    ff = 3 * model.feedForwardLength * n * F32 + 2 * hidden;
  }

  const output = shape.outputOnGpu ? model.vocabSize * n * F32 + hidden : 0;
  const totalBytes = Math.max(attention, ff, output);
  return { attentionBytes: attention, feedForwardBytes: ff, outputBytes: output, totalBytes };
}

/** The experts' feed-forward width: the file's expert_feed_forward_length, else an expert tensor's shape. */
function expertFeedForward(model: GgufModel): number {
  const v = model.metadata.get(`${model.architecture}.expert_feed_forward_length`);
  if (typeof v === 'number') return v;
  const up = model.tensors.find((t) => /^blk\.\d+\.ffn_up_exps\.weight$/.test(t.name));
  return up?.shape[1] ?? model.feedForwardLength;
}
