/**
 * A GGUF model as llama.cpp sees it when it loads the file: its tensors (name, shape, type, bytes)
 * and the hyperparameters that decide its memory — layers, heads per layer, head sizes, sliding
 * window layers, latent attention, recurrent layers, experts — read from the metadata with the
 * defaults llama.cpp's `llm_load_hparams` applies per architecture. Split files are one model.
 *
 * `readGgufModel` never throws: a file that cannot be read, an implausible header or a model
 * llama.cpp itself would refuse is a `NoEstimate` with the reason.
 */
import { readGgufHeader, type GgufHeader, type GgufValue } from './gguf-header-reader.ts';
import { MAX_SPLIT_FILES, parseSplitName, splitPath } from './gguf-split-files.ts';
import { GGML_TYPES, tensorDataBytes } from './ggml-types.ts';
import type { NoEstimate } from './estimate-types.ts';

/** llama.cpp's LLAMA_MAX_LAYERS and LLAMA_MAX_EXPERTS: a file claiming more is refused there too. */
export const LLAMA_MAX_LAYERS = 512;
export const LLAMA_MAX_EXPERTS = 512;

export interface ModelTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: number;
  readonly bytes: number;
}

/** Multi-head latent attention (DeepSeek V2/V3, Kimi K2, GLM-4.7-Flash, …). */
export interface LatentAttention {
  readonly kvLoraRank: number;
  readonly ropeDimensions: number;
  /** The file has the split `attn_k_b`/`attn_v_b` tensors, so llama.cpp caches the compressed latent. */
  readonly compressedCache: boolean;
  /** Per-head key/value sizes of the uncompressed attention (the old-GGUF fallback caches these). */
  readonly keyLength: number;
  readonly valueLength: number;
}

/** State-space / recurrent layers: llama.cpp's `n_embd_r` (rolling conv state) and `n_embd_s` (SSM/WKV state), f32 elements per sequence per layer. */
export interface RecurrentState {
  readonly convElements: number;
  readonly stateElements: number;
}

export interface GgufModel {
  readonly kind: 'model';
  readonly path: string;
  /** Every file of the model (one, or each shard of a split model in order). */
  readonly files: readonly string[];
  readonly fileBytes: number;
  readonly architecture: string;
  readonly name: string | null;
  readonly tensors: readonly ModelTensor[];
  readonly layers: number;
  readonly embeddingLength: number;
  readonly trainedContext: number;
  readonly vocabSize: number;
  readonly headCount: readonly number[];
  /** KV heads per layer: 0 for a layer without attention (the recurrent layers of a hybrid). */
  readonly headCountKv: readonly number[];
  readonly keyLength: number;
  readonly valueLength: number;
  /** Head sizes of the sliding-window layers where they differ (Gemma 4: key_length_swa); 0 = the same. */
  readonly keyLengthSwa: number;
  readonly valueLengthSwa: number;
  readonly feedForwardLength: number;
  readonly expertCount: number;
  readonly expertUsedCount: number;
  /** Sliding window in tokens (0: none), and which layers use it. */
  readonly slidingWindow: number;
  readonly swaLayers: readonly boolean[];
  /** Layers that keep a KV cache of their own (false: recurrent layers, layers sharing another's cache). */
  readonly kvLayers: readonly boolean[];
  /** Layers with recurrent state. */
  readonly recurrentLayers: readonly boolean[];
  readonly recurrent: RecurrentState | null;
  readonly latentAttention: LatentAttention | null;
  /**
   * Multi-token-prediction (NextN) layers at the end (`nextn_predict_layers`): counted in block_count
   * and by `-ngl`, never part of the main context's KV cache, and their weights loaded only with
   * `--spec-type draft-mtp` (llama_model_params.load_mtp; otherwise TENSOR_SKIP).
   */
  readonly skippedLayers: number;
  /**
   * DeepSeek sparse attention (DeepSeek V3.2, arch deepseek32): the lightning indexer's key length.
   * llama.cpp keeps an indexer key cache beside the latent one (llama-kv-cache-dsa.cpp): one K head
   * of this many elements per cell and trunk layer, in the K cache type, no V. 0: no indexer.
   */
  readonly indexerKeyLength: number;
  readonly causal: boolean;
  readonly metadata: ReadonlyMap<string, GgufValue>;
}

const none = (path: string, reason: string): NoEstimate => ({ kind: 'none', modelPath: path, reason });

/** Default sliding-window layer pattern per architecture (llama.cpp `set_swa_pattern(n)`: layer i is SWA when i % n < n − 1). */
const SWA_PATTERN: Record<string, number> = {
  gemma2: 2,
  gemma3: 6,
  gemma3n: 5,
  gemma4: 6,
  'gemma-embedding': 6,
  cohere2: 4,
  'gpt-oss': 2,
  llama4: 4,
  exaone4: 4,
  smallthinker: 4,
};

/** Architectures whose layers are all recurrent (no KV cache at all). */
const ALL_RECURRENT = new Set(['mamba', 'mamba2', 'rwkv6', 'rwkv6qwen2', 'rwkv7', 'arwkv7']);
/** Hybrids that mark a recurrent layer by head_count_kv = 0. */
const HYBRID_BY_KV_HEADS = new Set(['jamba', 'granitehybrid', 'nemotron_h', 'lfm2', 'lfm2moe', 'plamo2']);
/** Architectures llama.cpp runs without a causal KV cache (encoders). */
const ENCODER_ONLY = new Set(['bert', 'nomic-bert', 'nomic-bert-moe', 'jina-bert-v2', 'jina-bert-v3', 'neo-bert', 'modern-bert', 'gemma-embedding']);

function num(v: GgufValue | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Reads the model at `path` (the first shard of a split model). Never throws. */
export async function readGgufModel(path: string): Promise<GgufModel | NoEstimate> {
  try {
    const first = await readGgufHeader(path);
    if (!first.ok) return none(path, first.reason);
    const headers: GgufHeader[] = [first.header];
    const splitCount = num(first.header.metadata.get('split.count'));
    const named = parseSplitName(path);
    if (splitCount !== null && splitCount > 1) {
      if (splitCount > MAX_SPLIT_FILES)
        return none(path, `${path}: this header is not plausible: split.count is ${splitCount} (at most ${MAX_SPLIT_FILES} shards are read).`);
      const splitNo = num(first.header.metadata.get('split.no')) ?? named?.index ?? 0;
      if (splitNo !== 0 || !named) {
        return none(
          path,
          `${path} is shard ${splitNo + 1} of a ${splitCount}-file split model: give the first file (…-00001-of-${String(splitCount).padStart(5, '0')}.gguf), as llama.cpp needs.`,
        );
      }
      for (let i = 2; i <= splitCount; i++) {
        const shard = splitPath(path, named.prefix, i, splitCount);
        const h = await readGgufHeader(shard);
        if (!h.ok) return none(path, `shard ${i} of ${splitCount} of the split model: ${h.reason}`);
        const no = num(h.header.metadata.get('split.no'));
        if (no !== null && no !== i - 1) return none(path, `${shard} says it is shard ${no + 1}, not ${i}: the split files are mixed up.`);
        headers.push(h.header);
      }
    }
    return describeModel(path, headers);
  } catch (err) {
    return none(path, `${path} could not be read: ${(err as Error).message}.`);
  }
}

/** The model from its files' headers (pure: the truth-set and fault tests feed it directly too). */
export function describeModel(path: string, headers: readonly GgufHeader[]): GgufModel | NoEstimate {
  const head = headers[0];
  if (!head) return none(path, `${path}: no GGUF header was read.`);
  const md = head.metadata;
  const problem = (what: string) => none(path, `${path}: this header is not plausible: ${what}.`);

  // Tensors: known types, data inside the file, names unique across the shards.
  const tensors: ModelTensor[] = [];
  const seen = new Set<string>();
  let fileBytes = 0;
  for (const h of headers) {
    fileBytes += h.fileBytes;
    for (const t of h.tensors) {
      const bytes = tensorDataBytes(t.type, t.shape);
      if (bytes === null)
        return none(
          path,
          `tensor "${t.name}" has ggml type ${t.type}, which this version of VRAM Guard does not know the size of (a newer llama.cpp quantization?).`,
        );
      if (h.dataOffset + t.offset + bytes > h.fileBytes) {
        return problem(
          `the data of tensor "${t.name}" (${bytes} bytes at offset ${h.dataOffset + t.offset}) lies beyond the end of ${h.path} (${h.fileBytes} bytes): the file is incomplete`,
        );
      }
      if (seen.has(t.name)) return problem(`tensor "${t.name}" appears twice`);
      seen.add(t.name);
      tensors.push({ name: t.name, shape: t.shape, type: t.type, bytes });
    }
  }
  const expected = num(md.get('split.tensors.count'));
  if (expected !== null && expected !== tensors.length)
    return none(path, `the split model says it has ${expected} tensors but its files hold ${tensors.length}: a shard is missing or from another model.`);

  const archValue = md.get('general.architecture');
  if (typeof archValue !== 'string') return none(path, `${path} has no general.architecture, so llama.cpp cannot load it either.`);
  const arch = archValue;
  const key = (k: string) => md.get(`${arch}.${k}`);
  const label = `${typeof md.get('general.name') === 'string' ? `${md.get('general.name') as string} ` : ''}(${arch})`;

  const int = (k: string, fallback?: number): number | null => {
    const v = key(k);
    if (v === undefined) return fallback ?? null;
    const n = num(v);
    return n !== null && Number.isInteger(n) && n >= 0 ? n : null;
  };
  const layers = int('block_count');
  if (layers === null || layers === 0) return none(path, `${label}: ${arch}.block_count is missing or not a whole number, so llama.cpp cannot load it.`);
  if (layers > LLAMA_MAX_LAYERS) return problem(`${arch}.block_count is ${layers}; llama.cpp loads at most ${LLAMA_MAX_LAYERS} layers`);
  const embd = int('embedding_length');
  if (embd === null || embd === 0) return none(path, `${label}: ${arch}.embedding_length is missing, so llama.cpp cannot load it.`);

  // A value per layer: a single number repeated, or an array of exactly `layers` numbers.
  const perLayer = (k: string, fallback: readonly number[] | null): number[] | string => {
    const v = key(k);
    if (v === undefined) return fallback ? [...fallback] : `${arch}.${k} is missing`;
    if (typeof v === 'object' && v.kind === 'array') {
      if (v.length !== layers) return `${arch}.${k} has ${v.length} values for ${layers} layers`;
      if (!v.items) return `${arch}.${k} could not be read`;
      const out: number[] = [];
      for (const x of v.items) {
        if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) return `${arch}.${k} holds a value that is not a whole number`;
        out.push(x);
      }
      return out;
    }
    const n = num(v);
    if (n === null || !Number.isInteger(n) || n < 0) return `${arch}.${k} is ${JSON.stringify(v)}, not a whole number`;
    return new Array<number>(layers).fill(n);
  };
  const allRecurrent = ALL_RECURRENT.has(arch);
  const headCount = perLayer('attention.head_count', allRecurrent ? new Array<number>(layers).fill(0) : null);
  if (typeof headCount === 'string')
    return headCount.includes('missing') ? none(path, `${label}: ${headCount}, so llama.cpp cannot load it.`) : problem(headCount);
  const headCountKv = perLayer('attention.head_count_kv', headCount);
  if (typeof headCountKv === 'string') return problem(headCountKv);
  const ffLengths = perLayer('feed_forward_length', new Array<number>(layers).fill(0));
  const feedForwardLength = typeof ffLengths === 'string' ? 0 : Math.max(0, ...ffLengths);

  const firstHeads = headCount.find((h) => h > 0) ?? 0;
  const keyLength = int('attention.key_length') ?? (firstHeads > 0 ? embd / firstHeads : 0);
  const valueLength = int('attention.value_length') ?? (firstHeads > 0 ? embd / firstHeads : 0);
  if (!Number.isInteger(keyLength) || !Number.isInteger(valueLength))
    return none(path, `${label}: the head size ${embd} / ${firstHeads} is not a whole number and the file gives no attention.key_length.`);

  const expertCount = int('expert_count', 0) ?? 0;
  const expertUsedCount = int('expert_used_count', 0) ?? 0;
  if (expertCount > LLAMA_MAX_EXPERTS) return problem(`${arch}.expert_count is ${expertCount}; llama.cpp supports at most ${LLAMA_MAX_EXPERTS} experts`);

  // Vocabulary: the token embedding's rows, else the tokenizer's length.
  const embdTensor = tensors.find((t) => t.name === 'token_embd.weight');
  const tokens = md.get('tokenizer.ggml.tokens');
  const vocabSize =
    (embdTensor && embdTensor.shape.length >= 2 ? embdTensor.shape[1] : null) ??
    int('vocab_size') ??
    (typeof tokens === 'object' && tokens.kind === 'array' ? tokens.length : 0);

  // Sliding-window layers.
  const slidingWindow = int('attention.sliding_window', 0) ?? 0;
  let swaLayers = new Array<boolean>(layers).fill(false);
  if (slidingWindow > 0 && arch !== 'phi3' && arch !== 'qwen2' && arch !== 'mistral3') {
    const pattern = key('attention.sliding_window_pattern');
    if (typeof pattern === 'object' && pattern.kind === 'array' && pattern.items && pattern.length === layers) {
      swaLayers = pattern.items.map((x) => x === true || x === 1);
    } else {
      const n = num(pattern) ?? SWA_PATTERN[arch] ?? 0;
      if (n > 0) swaLayers = swaLayers.map((_, il) => il % n < n - 1);
    }
  } else if (arch === 'llama4' && expertCount > 0) {
    // Llama 4 uses chunked attention of 8192 tokens on three layers in four (llama.cpp sets it, the file does not).
    swaLayers = swaLayers.map((_, il) => il % 4 < 3);
  }
  const window = arch === 'llama4' && slidingWindow === 0 && swaLayers.some(Boolean) ? 8192 : slidingWindow;

  // Recurrent layers and the layers that keep a KV cache.
  let recurrentLayers = new Array<boolean>(layers).fill(allRecurrent);
  if (HYBRID_BY_KV_HEADS.has(arch)) recurrentLayers = headCountKv.map((h) => h === 0);
  if (arch === 'qwen3next' || arch === 'qwen35' || arch === 'qwen35moe') {
    const interval = int('full_attention_interval', 4) ?? 4;
    recurrentLayers = recurrentLayers.map((_, il) => interval > 0 && (il + 1) % interval !== 0);
  }
  if (arch === 'falcon-h1') recurrentLayers = recurrentLayers.map(() => true);
  let kvLayers = headCountKv.map((h, il) => h > 0 && !(recurrentLayers[il] && arch !== 'falcon-h1'));
  if (arch === 'gemma3n' || arch === 'gemma4') {
    const shared = int('attention.shared_kv_layers', 0) ?? 0;
    kvLayers = kvLayers.map((kv, il) => kv && il < layers - shared);
  }

  let recurrent: RecurrentState | null = null;
  if (recurrentLayers.some(Boolean)) {
    const conv = int('ssm.conv_kernel', 0) ?? 0;
    const inner = int('ssm.inner_size', 0) ?? 0;
    const state = int('ssm.state_size', 0) ?? 0;
    const groups = int('ssm.group_count', 0) ?? 0;
    const dtRank = int('ssm.time_step_rank', 0) ?? 0;
    if (arch === 'lfm2' || arch === 'lfm2moe') {
      const cache = int('shortconv.l_cache', 3) ?? 3;
      recurrent = { convElements: embd * Math.max(0, cache - 1), stateElements: 0 };
    } else if (arch === 'qwen3next' || arch === 'qwen35' || arch === 'qwen35moe') {
      // Gated delta net: conv over q, k (groups × state each) and v (inner); state per value head: head_k × head_v.
      const headV = dtRank > 0 ? inner / dtRank : 0;
      recurrent = { convElements: Math.max(0, conv - 1) * (inner + 2 * groups * state), stateElements: state * headV * dtRank };
    } else if (arch.startsWith('rwkv') || arch === 'arwkv7') {
      const headSize = int('wkv.head_size', 64) ?? 64;
      const tokenShift = int('token_shift_count', 2) ?? 2;
      recurrent = { convElements: tokenShift * embd, stateElements: embd * headSize };
    } else {
      recurrent = { convElements: Math.max(0, conv - 1) * (inner + 2 * groups * state), stateElements: state * inner };
    }
  }

  // Multi-head latent attention.
  let latentAttention: LatentAttention | null = null;
  const kvLoraRank = int('attention.kv_lora_rank', 0) ?? 0;
  if (kvLoraRank > 0) {
    const rope = int('rope.dimension_count', 64) ?? 64;
    const compressedCache = int('attention.key_length_mla', 0) !== 0 || tensors.some((t) => /^blk\.\d+\.attn_k_b\.weight$/.test(t.name));
    const keyLengthMla = int('attention.key_length_mla', 0) ?? 0;
    const valueLengthMla = int('attention.value_length_mla', 0) ?? 0;
    latentAttention = {
      kvLoraRank,
      ropeDimensions: rope,
      compressedCache,
      keyLength: keyLengthMla || keyLength,
      valueLength: valueLengthMla || valueLength,
    };
  }

  const nextn = int('nextn_predict_layers', 0) ?? 0;
  const causalValue = key('attention.causal');
  const causal = !ENCODER_ONLY.has(arch) && causalValue !== false;
  // An encoder (embedding model) keeps no KV cache: llama.cpp creates no memory for it.
  if (!causal) kvLayers = kvLayers.map(() => false);
  const trainedContext = int('context_length', 0) ?? 0;
  if (trainedContext === 0) return none(path, `${label}: ${arch}.context_length is missing, so llama.cpp has no training context to default to.`);

  return {
    kind: 'model',
    path,
    files: headers.map((h) => h.path),
    fileBytes,
    architecture: arch,
    name: typeof md.get('general.name') === 'string' ? (md.get('general.name') as string) : null,
    tensors,
    layers,
    embeddingLength: embd,
    trainedContext,
    vocabSize,
    headCount,
    headCountKv,
    keyLength,
    valueLength,
    keyLengthSwa: int('attention.key_length_swa', 0) ?? 0,
    valueLengthSwa: int('attention.value_length_swa', 0) ?? int('attention.key_length_swa', 0) ?? 0,
    feedForwardLength,
    expertCount,
    expertUsedCount,
    slidingWindow: window,
    swaLayers,
    kvLayers,
    recurrentLayers,
    recurrent,
    latentAttention,
    skippedLayers: Math.min(nextn, layers),
    indexerKeyLength: arch === 'deepseek32' ? (int('attention.indexer.key_length', 0) ?? 0) : 0,
    causal,
    metadata: md,
  };
}

export function modelLabel(model: Pick<GgufModel, 'name' | 'architecture'>): string {
  return model.name ? `${model.name} (${model.architecture})` : model.architecture;
}

/** The ggml type name of a tensor type number ("q4_K"), for reports. */
export function ggmlTypeName(type: number): string {
  return GGML_TYPES.get(type)?.name ?? `type ${type}`;
}
