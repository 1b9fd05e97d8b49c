/**
 * The compute buffer llama.cpp reserves on the GPU: ggml-alloc plans the worst-case graph (a full
 * micro-batch of `n_ubatch` tokens split over `n_seq_max` sequences, the whole cache visible;
 * llama-context.cpp `sched_reserve` and `graph_reserve`) and the buffer is the peak of the tensors
 * alive at once. The peak is at one of these places of the graph:
 *
 * - attention: the KQ mask input (f32, `n_kv × n_tokens`, plus its f16 copy with flash attention)
 *   and, without flash attention, the scores `n_kv × n_tokens × n_head` in f32 that soft-max
 *   rewrites in place; with flash attention only the mask grows with the context;
 * - a recurrent layer, which needs its buffers at any context (src/models/delta-net-base.cpp,
 *   qwen35moe.cpp, mamba-base.cpp, lfm2.cpp): the input projection, the convolution's input and
 *   output, and the scan's output with the new state of every sequence;
 * - the feed-forward block: gate, up and their product, `n_ff × n_tokens` f32 each; for a mixture
 *   of experts (llama-graph.cpp `build_moe_ffn`) the selected experts' `n_ff_exp × n_expert_used ×
 *   n_tokens`, then their outputs `n_embd × n_expert_used × n_tokens` beside the weighted sum;
 * - the output: the logits, `n_vocab × n_outputs` f32, beside the normalised hidden state; llama-server
 *   reserves one output row per slot (`n_outputs_max`), a program that keeps every token's logits
 *   `n_ubatch` rows;
 * plus the hidden states carried across (the residual stream), `n_embd × n_tokens` f32 each, and
 * the masks, which are inputs and stay alive through every layer.
 *
 * When the output layer stays on the CPU the logits are computed there.
 *
 * Layers whose weights stay in host memory (`-ngl` below the layer count, `-ngl 0`) still reserve
 * compute on the GPU: with op offload on (llama.cpp's default; `--no-op-offload` turns it off) the
 * scheduler runs every matrix product whose batch is at least 32 rows on the GPU
 * (ggml-backend.cpp `ggml_backend_sched_backend_id_from_cur`, the CUDA backend's `offload_op`), with
 * the ops between them, and copies the weight in for it (ggml-cuda does not read host buffers). The
 * GPU's buffer then holds one such layer's activations — its projections and feed-forward block,
 * not the attention over the cache, which stays in host memory with it — and the largest weight
 * matrix copied in. A micro-batch of fewer than 32 tokens is not offloaded; the logits of a CPU
 * output layer are offloaded only when 32 rows or more are reserved (a runner that keeps every
 * token's logits).
 */
import type { GgufModel } from './gguf-model.ts';
import { layerAttentionSize } from './kv-cache-size.ts';

const F32 = 4;
const F16 = 2;
/** GGML_KQ_MASK_PAD: the mask's token dimension is padded to this. */
const KQ_MASK_PAD = 64;
/** ggml-cuda's `op_offload_min_batch_size` (GGML_OP_OFFLOAD_MIN_BATCH, 32 by default). */
export const OP_OFFLOAD_MIN_BATCH = 32;

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
  /** Layers whose weights stay in host memory (the first ones); 0 when every layer is on the GPU. */
  readonly cpuLayers?: number;
  /** `--op-offload` (default true): the GPU runs the CPU layers' large-batch matrix products. */
  readonly opOffload?: boolean;
  /** Sequences of the reserved micro-batch (`n_seq_max`: llama-server's slots). */
  readonly sequences: number;
  /**
   * The llama.cpp the graph is reserved by: `'current'` (v0.5.0, since June 2026) builds the KQ mask
   * directly in f16 under flash attention, one row per token; `'before-2026-06'` built it in f32,
   * padded to 64 tokens, and cast it to f16 beside it (llama.cpp pull request 23764).
   */
  readonly graph?: LlamaGraphEra;
}

export type LlamaGraphEra = 'current' | 'before-2026-06';

export interface ComputeBreakdown {
  readonly attentionBytes: number;
  readonly recurrentBytes: number;
  readonly feedForwardBytes: number;
  readonly outputBytes: number;
  /** What the GPU holds for the CPU layers' offloaded matrix products (and a CPU output layer's). */
  readonly offloadBytes: number;
  readonly totalBytes: number;
}

export function computeBufferBytes(model: GgufModel, shape: ComputeShape): ComputeBreakdown {
  const n = shape.tokens;
  const cpuLayers = Math.min(model.layers, shape.cpuLayers ?? 0);
  const offloads = shape.opOffload !== false && n >= OP_OFFLOAD_MIN_BATCH;
  if (!shape.anyLayerOnGpu && !shape.outputOnGpu && !(offloads && (cpuLayers > 0 || shape.outputRows >= OP_OFFLOAD_MIN_BATCH)))
    return { attentionBytes: 0, recurrentBytes: 0, feedForwardBytes: 0, outputBytes: 0, offloadBytes: 0, totalBytes: 0 };
  const hidden = model.embeddingLength * n * F32;
  const legacy = shape.graph === 'before-2026-06';
  const maskTokens = legacy ? Math.ceil(n / KQ_MASK_PAD) * KQ_MASK_PAD : n;

  // The masks are graph inputs (one for the full layers, one for the sliding-window layers), alive
  // through every layer: f32 without flash attention, f16 with it (llama-graph.cpp
  // `build_attn_inp_kq_mask`); builds before June 2026 kept the f32 mask beside its f16 copy.
  const hasSwa = model.swaLayers.some((swa, il) => swa && model.kvLayers[il]);
  const hasFull = model.kvLayers.some((kv, il) => kv && !model.swaLayers[il]);
  const maskElement = shape.flashAttention ? (legacy ? F32 + F16 : F16) : F32;
  const maskBytes = (cells: number) => cells * maskTokens * maskElement;
  const masks = (hasFull ? maskBytes(shape.kvCells) : 0) + (hasSwa ? maskBytes(shape.swaKvCells) : 0);

  let attention = 0;
  // The projections alone (no scores), for a CPU layer whose attention runs in host memory.
  let projections = 0;
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
    projections = Math.max(projections, qkv + out + 2 * hidden);
  }
  attention += masks;

  const recurrentCore = model.recurrentLayers.some(Boolean) ? recurrentLayerBytes(model, n, Math.max(1, shape.sequences)) + hidden : 0;
  const recurrent = recurrentCore > 0 ? recurrentCore + masks : 0;

  let ff: number;
  if (model.expertCount > 0) {
    // build_moe_ffn: router logits and probabilities, then per token the selected experts' gate, up
    // and their product; the down projection writes every selected expert's output (n_embd each),
    // and their weighted copy sits beside it before the sum (llama.cpp's own reservation of
    // shape-only models grows by 2 × n_embd + n_ff_exp per selected expert and token).
    const expertFf = expertFeedForward(model);
    const used = Math.max(1, model.expertUsedCount);
    const router = 3 * model.expertCount * n * F32;
    const inner = expertFf * used * n * F32;
    const outputs = model.embeddingLength * used * n * F32;
    const stage = Math.max(3 * inner, inner + outputs, 2 * outputs);
    ff = stage + router + 3 * hidden;
  } else {
    // Gate, up and their product beside the residual, the normalised input and its weighted copy
    // (rms_norm then the norm weight's multiply), as llama.cpp's own reservation of shape-only models shows.
    ff = 3 * model.feedForwardLength * n * F32 + 3 * hidden;
  }
  const ffCore = ff;
  ff += masks;

  const output = shape.outputOnGpu ? model.vocabSize * Math.min(shape.outputRows, n) * F32 + hidden : 0;
  // Only the output layer on the GPU (-ngl 1): the layers' blocks run on the CPU.
  const layers = shape.anyLayerOnGpu ? Math.max(attention, recurrent, ff) : 0;
  let offload = 0;
  if (offloads && cpuLayers > 0) offload = Math.max(projections, recurrentCore, ffCore) + largestLayerWeight(model, cpuLayers);
  if (offloads && !shape.outputOnGpu && shape.outputRows >= OP_OFFLOAD_MIN_BATCH) {
    const logits = model.vocabSize * Math.min(shape.outputRows, n) * F32 + hidden;
    offload = Math.max(offload, logits + outputWeight(model));
  }
  const totalBytes = Math.max(layers, output, offload);
  return { attentionBytes: attention, recurrentBytes: recurrent, feedForwardBytes: ff, outputBytes: output, offloadBytes: offload, totalBytes };
}

/** The largest weight matrix of the first `cpuLayers` layers: the one the GPU copies in for its product. */
function largestLayerWeight(model: GgufModel, cpuLayers: number): number {
  let max = 0;
  for (const t of model.tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (!m || Number(m[1]) >= cpuLayers || t.shape.length < 2) continue;
    max = Math.max(max, t.bytes);
  }
  return max;
}

/** The output matrix (the token embedding where the two are tied). */
function outputWeight(model: GgufModel): number {
  const t = model.tensors.find((x) => x.name === 'output.weight') ?? model.tensors.find((x) => x.name === 'token_embd.weight');
  return t?.bytes ?? 0;
}

/** A whole-number hyperparameter of the model's architecture, 0 when the file has none. */
function hparam(model: GgufModel, key: string): number {
  const v = model.metadata.get(`${model.architecture}.${key}`);
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/**
 * The tensors alive at the peak of one recurrent layer for `n` tokens over `seqs` sequences (f32),
 * besides the residual stream, as the layer's graph builds them:
 *
 * - gated delta net (qwen3next, qwen35, qwen35moe; the fused op is always on in this llama.cpp):
 *   the gate z (d_inner), the convolution's output over q, k, v (d_inner + 2 × groups × state), the
 *   L2-normalised q and k, the state read for each sequence and the op's result (its output and the
 *   new state) — or, one step before, the convolution's input with the carried columns;
 * - Mamba 2 (mamba2, granitehybrid, nemotron_h, falcon-h1): the input projection z|xBC|dt, which
 *   stays alive to the gate, the convolved xBC, and the scan's output with the new states;
 * - Mamba (mamba, jamba): x|z, the convolved x, its dt|B|C projection, dt and the scan's output;
 * - short convolution (lfm2, lfm2moe): the B|C|x projection, B·x with the carried columns, and the
 *   convolution's output.
 */
function recurrentLayerBytes(model: GgufModel, n: number, seqs: number): number {
  const arch = model.architecture;
  const E = model.embeddingLength;
  const dInner = hparam(model, 'ssm.inner_size');
  const dState = hparam(model, 'ssm.state_size');
  const groups = hparam(model, 'ssm.group_count');
  const dtRank = hparam(model, 'ssm.time_step_rank');
  if (arch === 'qwen3next' || arch === 'qwen35' || arch === 'qwen35moe') {
    // qwen35.cpp: head_k = head_v = ssm_d_state; q, k over `groups` heads, v over `dt_rank` heads.
    const keyDim = dState * groups;
    const valueDim = dState * dtRank || dInner;
    const channels = 2 * keyDim + valueDim;
    const state = dState * dState * dtRank * seqs;
    // At the fused delta-net op: the convolution's input and output over q|k|v, the gate z, the
    // normalised q and k, the layer's normalised input, and the state read for each sequence beside
    // the new one (checked against llama.cpp's own reservation of shape-only models).
    return F32 * (n * (2 * channels + valueDim + 2 * keyDim + E) + 2 * state);
  }
  if (arch === 'lfm2' || arch === 'lfm2moe') {
    const cache = hparam(model, 'shortconv.l_cache') || 3;
    return F32 * (3 * E * n + E * (n + cache * seqs) + 2 * E * n);
  }
  if (arch === 'mamba' || arch === 'jamba') {
    const rank = dtRank || Math.ceil(E / 16);
    const scan = dInner * n + dState * dInner * seqs;
    return F32 * (2 * dInner * n + dInner * n + (rank + 2 * dState) * n + dInner * n + scan);
  }
  if (dInner > 0) {
    // Mamba 2 and the hybrids built on it: the z|xBC|dt projection (alive to the gated norm), the
    // convolution's input and output over xBC, the scan's output, y·D and the gated output, with
    // each sequence's state read and written (checked against llama.cpp's own reservation of
    // shape-only models: 5 × d_inner per token).
    const scanState = dState * dInner * seqs;
    return F32 * (n * (5 * dInner + 4 * groups * dState + E) + 2 * scanState);
  }
  return 0;
}

/** The experts' feed-forward width: the file's expert_feed_forward_length, else an expert tensor's shape. */
function expertFeedForward(model: GgufModel): number {
  const v = model.metadata.get(`${model.architecture}.expert_feed_forward_length`);
  if (typeof v === 'number') return v;
  const up = model.tensors.find((t) => /^blk\.\d+\.ffn_up_exps\.weight$/.test(t.name));
  return up?.shape[1] ?? model.feedForwardLength;
}

/**
 * Since when llama.cpp reserves the graph as v0.5.0 does: pull request 23764 ("use f16 mask for FA",
 * merged 2026-05-28) builds the KQ mask in f16 instead of f32 plus an f16 copy, and pull requests
 * 23861 and 23988 (merged 2026-05-30 and 2026-06-01) make llama-server reserve one logits row per
 * slot instead of one per micro-batch token (`graph_reserve(n_tokens, n_seqs, n_tokens, …)` before).
 * The build number is approximate: b9272 of 2026-05-22 is before, b9525 of 2026-06-05 after.
 */
export const GRAPH_CHANGED = { date: '2026-06-01', build: 9400 } as const;

/**
 * The graph a llama.cpp build reserves, from what is known of it: its build number, or the date it
 * was published (`YYYY-MM[-DD]`); with neither, llama.cpp v0.5.0's. A date that gives only the year
 * of the change could be either side: the older graph, the larger one, is the one never under.
 */
export function llamaGraphEra(when: { build?: number | null; date?: string | null }): LlamaGraphEra {
  if (when.build !== undefined && when.build !== null) return when.build < GRAPH_CHANGED.build ? 'before-2026-06' : 'current';
  const m = when.date ? /^(\d{4})(?:-(\d{2}))?/.exec(when.date) : null;
  if (!m) return 'current';
  const year = Number(m[1]);
  const month = m[2] ? Number(m[2]) : null;
  const [sy, sm] = GRAPH_CHANGED.date.split('-').map(Number) as [number, number];
  if (year !== sy) return year < sy ? 'before-2026-06' : 'current';
  return month === null || month < sm ? 'before-2026-06' : 'current';
}
