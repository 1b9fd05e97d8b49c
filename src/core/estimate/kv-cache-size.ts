/**
 * The KV cache and the recurrent state as llama.cpp allocates them (llama-kv-cache.cpp,
 * llama-kv-cache-iswa.cpp, llama-memory-recurrent.cpp), on the GPU for the offloaded layers:
 *
 * - every layer with attention holds `cells` rows of K (`n_head_kv(il) × key_length` elements) and
 *   of V (`n_head_kv(il) × value_length`), each row `ggml_row_size` of the cache type, so a
 *   quantized type pays its block scales (q8_0: 34 bytes per 32 elements);
 * - `cells` is the context padded to 256 (llama-context.cpp), per sequence when the cache is not
 *   unified; sliding-window layers hold `pad256(min(cells, n_swa × (unified ? n_seq : 1) + n_ubatch))`
 *   cells, or the full count with `--swa-full`;
 * - multi-head latent attention caches the compressed latent: one "head" of kv_lora_rank + rope
 *   dimensions for K, and no V (llama.cpp reads it from K since its V-less cache of January 2026);
 *   a GGUF converted before llama.cpp split `attn_kv_b` caches full heads (n_head × key_length,
 *   n_head × value_length) instead;
 * - DeepSeek sparse attention adds the lightning indexer's key cache (llama-kv-cache-dsa.cpp): per
 *   trunk layer, one K head of the indexer's key length per cell, in the K cache type, no V;
 * - multi-token-prediction (NextN) layers are never in the main context's cache: with
 *   `--spec-type draft-mtp` they get a cache of their own in the draft context (`mtpKvCacheBytes`),
 *   of the main context's cells, without an indexer (the MTP head runs dense attention);
 * - recurrent layers keep, per sequence, a conv state and an SSM/WKV state in f32 (`n_embd_r`,
 *   `n_embd_s`), one cell per sequence.
 */
import type { GgufModel } from './gguf-model.ts';
import { kvRowBytes } from './ggml-types.ts';
import type { KvCacheType } from './llama-settings.ts';

export const CONTEXT_PADDING = 256;

export const pad = (n: number, to: number) => Math.ceil(n / to) * to;

export interface CacheShape {
  /** KV cells of the full-attention layers. */
  readonly cells: number;
  /** KV cells of the sliding-window layers. */
  readonly swaCells: number;
  readonly cacheTypeK: KvCacheType;
  readonly cacheTypeV: KvCacheType;
  /** Layers from this index on are on the GPU (their cache with them). */
  readonly firstGpuLayer: number;
  readonly sequences: number;
  /** Only the layers this says are on the device (one device of several); absent: every layer from firstGpuLayer. */
  readonly onDevice?: (il: number) => boolean;
}

export interface LayerAttentionSize {
  /** K and V elements per cached token. */
  readonly kElements: number;
  readonly vElements: number;
}

/** What one cached token takes in layer `il` (0 for a layer without a KV cache). */
export function layerAttentionSize(model: GgufModel, il: number): LayerAttentionSize {
  if (!model.kvLayers[il]) return { kElements: 0, vElements: 0 };
  const mla = model.latentAttention;
  if (mla) {
    // The compressed cache holds K only: V is a view of its first kv_lora_rank elements.
    if (mla.compressedCache) return { kElements: mla.kvLoraRank + mla.ropeDimensions, vElements: 0 };
    const heads = model.headCount[il];
    if (heads === undefined) throw new Error(`layer ${il} has a KV cache but no attention head count`);
    return { kElements: heads * mla.keyLength, vElements: heads * mla.valueLength };
  }
  const kvHeads = model.headCountKv[il];
  if (kvHeads === undefined) throw new Error(`layer ${il} has a KV cache but no KV head count`);
  const swa = model.swaLayers[il] && model.keyLengthSwa > 0;
  return { kElements: kvHeads * (swa ? model.keyLengthSwa : model.keyLength), vElements: kvHeads * (swa ? model.valueLengthSwa : model.valueLength) };
}

/** One layer's cache: its K and V rows (and the indexer's K row, where `indexer`) for its cells. */
function layerCacheBytes(model: GgufModel, shape: CacheShape, il: number, indexer: boolean): number {
  const { kElements, vElements } = layerAttentionSize(model, il);
  if (kElements === 0 && vElements === 0) return 0;
  const cells = model.swaLayers[il] ? shape.swaCells : shape.cells;
  const index = indexer && model.indexerKeyLength > 0 ? kvRowBytes(shape.cacheTypeK, model.indexerKeyLength) : 0;
  return cells * (kvRowBytes(shape.cacheTypeK, kElements) + (vElements > 0 ? kvRowBytes(shape.cacheTypeV, vElements) : 0) + index);
}

/** The main context's cache on the GPU (the trunk layers from `firstGpuLayer` on). */
export function kvCacheBytes(model: GgufModel, shape: CacheShape): number {
  let bytes = 0;
  for (let il = shape.firstGpuLayer; il < model.layers - model.skippedLayers; il++)
    if (!shape.onDevice || shape.onDevice(il)) bytes += layerCacheBytes(model, shape, il, true);
  return bytes;
}

/** The `--spec-type draft-mtp` draft context's cache on the GPU: the NextN layers only (llama-model.cpp `create_memory` for LLAMA_CONTEXT_TYPE_MTP). */
export function mtpKvCacheBytes(model: GgufModel, shape: CacheShape): number {
  let bytes = 0;
  for (let il = Math.max(shape.firstGpuLayer, model.layers - model.skippedLayers); il < model.layers; il++) bytes += layerCacheBytes(model, shape, il, false);
  return bytes;
}

export function recurrentStateBytes(model: GgufModel, shape: Pick<CacheShape, 'firstGpuLayer' | 'sequences'>): number {
  if (!model.recurrent) return 0;
  let layers = 0;
  for (let il = shape.firstGpuLayer; il < model.layers; il++) if (model.recurrentLayers[il]) layers++;
  return layers * Math.max(1, shape.sequences) * 4 * (model.recurrent.convElements + model.recurrent.stateElements);
}

/**
 * Sliding-window cells (llama-kv-cache-iswa.cpp): per stream, pad256(min(stream cells,
 * n_swa × (unified ? n_seq : 1) + n_ubatch)); a cache that is not unified has one stream per sequence.
 */
export function swaCells(
  model: Pick<GgufModel, 'slidingWindow'>,
  streamCells: number,
  streams: number,
  sequences: number,
  unified: boolean,
  ubatch: number,
  swaFull: boolean,
): number {
  if (swaFull || model.slidingWindow === 0) return streamCells * streams;
  return streams * pad(Math.min(streamCells, model.slidingWindow * (unified ? sequences : 1) + ubatch), CONTEXT_PADDING);
}
