/**
 * The compute buffer llama.cpp reserves on the GPU: ggml-alloc plans the worst-case graph (a full
 * micro-batch of `n_ubatch` tokens, the whole cache visible) and the buffer
 * is the peak of the tensors alive at once. The peak is at one of three places of the graph:
 *
 * - attention: the KQ mask input (f32, `n_kv × n_tokens`, plus its f16 copy with flash attention)
 *   and, without flash attention, the scores `n_kv × n_tokens × n_head` in f32 that soft-max
 *   rewrites in place; with flash attention only the mask grows with the context;
 * - the feed-forward block: gate, up and their product, `n_ff × n_tokens` f32 each (for a mixture
 *   of experts, the selected experts' `n_ff_exp × n_expert_used × n_tokens`);
 * - the output: the logits, `n_vocab × n_outputs` f32, beside the normalised hidden state; llama-server
 *   reserves one output row per slot, a program that keeps every token's logits `n_ubatch` rows;
 * plus the hidden states carried across (the residual stream), `n_embd × n_tokens` f32 each, and
 * the masks, which are inputs and stay alive through every layer.
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
  /** Logits rows the graph is reserved for: llama-server one per slot, a runner that keeps every token's logits n_ubatch. */
  readonly outputRows: number;
  /** Cells the full-attention layers see (the whole cache of one stream), and the sliding-window ones. */
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

  // The masks are graph inputs: built once, alive through every layer (one for the full layers,
  // one for the sliding-window layers), and with flash attention a half-precision copy of each.
  const hasSwa = model.swaLayers.some((swa, il) => swa && model.kvLayers[il]);
  const hasFull = model.kvLayers.some((kv, il) => kv && !model.swaLayers[il]);
  const maskBytes = (cells: number) => cells * maskTokens * (F32 + (shape.flashAttention ? F16 : 0));
  const masks = (hasFull ? maskBytes(shape.kvCells) : 0) + (hasSwa ? maskBytes(shape.swaKvCells) : 0);

  let attention = 0;
  for (let il = 0; il < model.layers; il++) {
    const { kElements } = layerAttentionSize(model, il);
    if (kElements === 0) continue;
    const cells = model.swaLayers[il] ? shape.swaKvCells : shape.kvCells;
    const heads = model.headCount[il] ?? 0;
    const headK = model.swaLayers[il] && model.keyLengthSwa > 0 ? model.keyLengthSwa : model.keyLength;
    const qkv = n * F32 * (heads * headK + 2 * kElements);
    // Without flash attention the scores (soft-max rewrites them in place) and the attention output.
    const scores = shape.flashAttention ? 0 : cells * n * heads * F32;
    const out = heads * (model.valueLength || headK) * n * F32;
    attention = Math.max(attention, qkv + scores + out + 2 * hidden);
  }
  attention += masks;

  let ff: number;
  if (model.expertCount > 0) {
    const expertFf = expertFeedForward(model);
    const router = 3 * model.expertCount * n * F32;
    ff = 3 * expertFf * model.expertUsedCount * n * F32 + router + 2 * hidden;
  } else {
    ff = 3 * model.feedForwardLength * n * F32 + 2 * hidden;
  }
  ff += masks;

  const output = shape.outputOnGpu ? model.vocabSize * Math.min(shape.outputRows, n) * F32 + hidden : 0;
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
