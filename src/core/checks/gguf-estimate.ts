/**
 * What a GGUF model will take on the GPU, from the file's metadata: the weights (the tensor data,
 * summed from the tensor infos), the KV cache for the chosen context, parallel slots and cache
 * type, a compute-buffer allowance and the CUDA context of the server's process.
 *
 * KV cache = Σ over layers of ctx × parallel × head_count_kv[layer] × (key_length + value_length)
 *            × bytes per element,
 * with key_length = value_length = embedding_length / head_count unless the file gives them.
 * That is 2 × layers × ctx × parallel × kv heads × head_dim × bytes for uniform layers: 32 layers,
 * 8 KV heads, head_dim 128, context 8192 in f16 is exactly 1 GiB.
 *
 * Architectures whose cache does not follow that formula (sliding-window attention, multi-head
 * latent attention, recurrent state) get no estimate rather than a wrong number.
 *
 * The weights are all the tensor data. llama.cpp keeps the input embedding in host memory, so for a
 * model with a separate output layer the GPU holds a little less than that: the error is on the
 * safe side for a pre-flight.
 *
 * Parsing is done by `@huggingface/gguf`, which reads only the header (metadata and tensor infos)
 * of a local file, asynchronously, so multi-gigabyte files cost a few reads.
 */
import { stat } from 'node:fs/promises';
import type { GGUFParseOutput } from '@huggingface/gguf';
import { formatMiB, MiB } from '../units.ts';

/** Cache element types llama.cpp (`-ctk`/`-ctv`) and Ollama (`OLLAMA_KV_CACHE_TYPE`) accept. */
export const KV_CACHE_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q5_1', 'q5_0', 'q4_1', 'q4_0', 'iq4_nl'] as const;
export type KvCacheType = (typeof KV_CACHE_TYPES)[number];

/** Bytes per element of each cache type: block bytes / block elements (q8_0: 34 B per 32). */
const KV_BYTES_PER_ELEMENT: Record<KvCacheType, number> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  q8_0: 34 / 32,
  q5_1: 24 / 32,
  q5_0: 22 / 32,
  q4_1: 20 / 32,
  q4_0: 18 / 32,
  iq4_nl: 18 / 32,
};

/**
 * ggml tensor types: [elements per block, bytes per block], by the type's number in the GGUF file
 * (the same table as llama.cpp's gguf-py `GGML_QUANT_SIZES`).
 */
const GGML_TYPE_SIZES: Record<number, readonly [number, number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  9: [32, 40], // Q8_1
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  15: [256, 292], // Q8_K
  16: [256, 66], // IQ2_XXS
  17: [256, 74], // IQ2_XS
  18: [256, 98], // IQ3_XXS
  19: [256, 50], // IQ1_S
  20: [32, 18], // IQ4_NL
  21: [256, 110], // IQ3_S
  22: [256, 82], // IQ2_S
  23: [256, 136], // IQ4_XS
  24: [1, 1], // I8
  25: [1, 2], // I16
  26: [1, 4], // I32
  27: [1, 8], // I64
  28: [1, 8], // F64
  29: [256, 56], // IQ1_M
  30: [1, 2], // BF16
  34: [256, 54], // TQ1_0
  35: [256, 66], // TQ2_0
  39: [32, 17], // MXFP4
  40: [64, 36], // NVFP4
  41: [128, 18], // Q1_0
  42: [64, 18], // Q2_0
};

/** Ollama's default context (`num_ctx`) and llama-server's default `-c`. */
export const DEFAULT_CONTEXT = 4096;
export const DEFAULT_PARALLEL = 1;
export const DEFAULT_KV_CACHE_TYPE: KvCacheType = 'f16';
/** llama.cpp's default micro-batch (`-ub`): the compute buffers are sized for it. */
export const DEFAULT_UBATCH = 512;
/**
 * The server process's CUDA context, cuBLAS workspace and runtime allocations, which NVML counts
 * against the process but no model buffer shows (typically 150–300 MiB).
 */
export const DEFAULT_RUNTIME_OVERHEAD = 256 * MiB;

export interface EstimateOptions {
  /** Context length per sequence (Ollama's `num_ctx`; llama-server's `-c` divided by `-np`). */
  contextLength: number;
  /** Sequences served at once (`-np`, `OLLAMA_NUM_PARALLEL`): the KV cache grows × N. */
  parallel: number;
  kvCacheType: KvCacheType;
  /** Flash attention avoids the context × batch attention matrix in the compute buffer. */
  flashAttention?: boolean;
  ubatch?: number;
  runtimeOverheadBytes?: number;
}

export interface GgufModel {
  path: string;
  architecture: string;
  name: string | null;
  /** `general.file_type` as ggml numbers it (15 = Q4_K_M), or null. */
  fileType: number | null;
  fileBytes: number;
  tensorCount: number;
  /** The tensor data, summed from the tensor infos (shape × type), whether or not the data is in the file. */
  weightsBytes: number;
  blockCount: number;
  embeddingLength: number;
  /** Per layer (a single value in the file is repeated). */
  headCount: number[];
  headCountKv: number[];
  keyLength: number;
  valueLength: number;
  vocabSize: number | null;
  trainedContext: number | null;
}

export interface VramEstimate {
  ok: true;
  model: GgufModel;
  options: Required<EstimateOptions>;
  weightsBytes: number;
  kvCacheBytes: number;
  computeBytes: number;
  runtimeBytes: number;
  totalBytes: number;
  /** Caveats worth showing beside the number (context above the trained one, ...). */
  notes: string[];
}

export interface NoEstimate {
  ok: false;
  /** `unreadable`: not a GGUF file, or not there. `unsupported`: a model the formula does not fit. */
  kind: 'unreadable' | 'unsupported';
  path: string;
  reason: string;
  advice: string;
  architecture: string | null;
  /** The weights alone, when the file could be read. */
  weightsBytes: number | null;
}

const GIVE_NEED = 'Give the need yourself (for example --need 6GiB), taken from the server\'s startup log (model, KV and compute buffer sizes) or from what `ollama ps` reports.';

/** Reads a local GGUF file's header and returns its shape, or why it cannot be estimated. */
export async function readGgufModel(path: string): Promise<GgufModel | NoEstimate> {
  let fileBytes: number;
  let parsed: GGUFParseOutput;
  try {
    fileBytes = (await stat(path)).size;
    // Loaded on first use: the parser is not needed to activate the extension.
    const { gguf } = await import('@huggingface/gguf');
    parsed = await gguf(path, { allowLocalFile: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'ENOENT' ? 'the file does not exist' : e.code === 'EACCES' ? 'permission denied' : e.message;
    return {
      ok: false,
      kind: 'unreadable',
      path,
      reason: `${path} could not be read as a GGUF model: ${what}.`,
      advice: 'Check the path points to the .gguf file the server loads (Ollama keeps them as blobs under ~/.ollama/models/blobs), or give the need with --need.',
      architecture: null,
      weightsBytes: null,
    };
  }
  return summarizeGguf(path, parsed.metadata as unknown as Record<string, unknown>, parsed.tensorInfos, fileBytes);
}

interface TensorInfoLike {
  name: string;
  shape: readonly bigint[];
  dtype: number;
}

/** Tensor data bytes, or null when a tensor's type is unknown to this table. */
export function tensorBytes(t: TensorInfoLike): number | null {
  const size = GGML_TYPE_SIZES[t.dtype];
  if (!size) return null;
  const elements = t.shape.reduce((a, b) => a * b, 1n);
  const [blockElements, blockBytes] = size;
  return Number((elements * BigInt(blockBytes)) / BigInt(blockElements));
}

const SLIDING_WINDOW = new Set(['gemma2', 'gemma3', 'gemma3n', 'cohere2', 'gpt-oss', 'llama4', 'exaone4']);
const LATENT_ATTENTION = new Set(['deepseek2', 'minicpm3']);
const RECURRENT = new Set(['mamba', 'mamba2', 'rwkv6', 'rwkv6qwen2', 'rwkv7', 'arwkv7', 'jamba', 'falcon-h1', 'granitehybrid', 'nemotron_h', 'lfm2', 'plamo2', 'qwen3next']);

/** The model's shape from parsed metadata and tensor infos (pure: tests feed it directly). */
export function summarizeGguf(path: string, metadata: Record<string, unknown>, tensorInfos: readonly TensorInfoLike[], fileBytes: number): GgufModel | NoEstimate {
  const arch = typeof metadata['general.architecture'] === 'string' ? metadata['general.architecture'] : null;
  let weightsBytes: number | null = 0;
  for (const t of tensorInfos) {
    const b = tensorBytes(t);
    if (b === null) {
      weightsBytes = null;
      break;
    }
    weightsBytes += b;
  }
  const unsupported = (reason: string): NoEstimate => ({ ok: false, kind: 'unsupported', path, reason, advice: GIVE_NEED, architecture: arch, weightsBytes });
  if (weightsBytes === null) {
    const odd = tensorInfos.find((t) => tensorBytes(t) === null)!;
    return unsupported(`tensor "${odd.name}" has ggml type ${odd.dtype}, which VRAM Guard does not know the size of, so the weights cannot be summed.`);
  }
  if (!arch) return unsupported('the file has no general.architecture, so its layers and heads cannot be read.');

  const keys = Object.keys(metadata);
  const has = (suffix: string) => keys.some((k) => k.startsWith(`${arch}.${suffix}`));
  const label = `${typeof metadata['general.name'] === 'string' ? `${metadata['general.name']} ` : ''}(${arch})`;
  if (SLIDING_WINDOW.has(arch) || has('attention.sliding_window')) {
    return unsupported(`${label} uses sliding-window attention: part of its KV cache is bounded by the window, so the formula would give a wrong number.`);
  }
  if (LATENT_ATTENTION.has(arch) || has('attention.kv_lora_rank')) {
    return unsupported(`${label} uses multi-head latent attention: its KV cache is a compressed latent, not heads × head size, so the formula would give a wrong number.`);
  }
  if (RECURRENT.has(arch) || has('ssm.') || has('wkv.') || has('time_mix')) {
    return unsupported(`${label} is a recurrent (state-space) model or a hybrid: its state does not grow with the context like a KV cache, so the formula would give a wrong number.`);
  }
  if (metadata[`${arch}.attention.causal`] === false) {
    return unsupported(`${label} is an embedding model (non-causal attention): it keeps no KV cache of the chosen context.`);
  }

  const problems: string[] = [];
  const int = (key: string, required: boolean): number | null => {
    const v = metadata[key];
    if (v === undefined) {
      if (required) problems.push(`${key} is missing`);
      return null;
    }
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
      problems.push(`${key} is ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}, not a positive whole number`);
      return null;
    }
    return n;
  };
  const blockCount = int(`${arch}.block_count`, true);
  const embeddingLength = int(`${arch}.embedding_length`, true);
  const perLayer = (key: string, fallback: number[] | null): number[] | null => {
    const v = metadata[key];
    if (v === undefined) {
      if (fallback) return fallback;
      problems.push(`${key} is missing`);
      return null;
    }
    if (Array.isArray(v)) {
      const values = v.map((x) => (typeof x === 'bigint' ? Number(x) : x));
      if (blockCount !== null && values.length !== blockCount) {
        problems.push(`${key} has ${values.length} values for ${blockCount} layers`);
        return null;
      }
      if (!values.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
        problems.push(`${key} holds values that are not whole numbers`);
        return null;
      }
      return values as number[];
    }
    const n = int(key, true);
    return n === null || blockCount === null ? null : new Array<number>(blockCount).fill(n);
  };
  const headCount = perLayer(`${arch}.attention.head_count`, null);
  const headCountKv = perLayer(`${arch}.attention.head_count_kv`, headCount);
  const firstHeads = headCount?.find((h) => h > 0) ?? null;
  if (headCount && firstHeads === null) problems.push(`${arch}.attention.head_count is 0 in every layer`);
  const headDim = embeddingLength !== null && firstHeads !== null ? embeddingLength / firstHeads : null;
  const keyLength = int(`${arch}.attention.key_length`, false) ?? headDim;
  const valueLength = int(`${arch}.attention.value_length`, false) ?? headDim;
  if (headDim !== null && (keyLength === null || !Number.isInteger(keyLength))) problems.push(`the head size ${embeddingLength} / ${firstHeads} is not a whole number and ${arch}.attention.key_length is missing`);
  if (problems.length || blockCount === null || embeddingLength === null || !headCount || !headCountKv || keyLength === null || valueLength === null || !Number.isInteger(keyLength) || !Number.isInteger(valueLength)) {
    return unsupported(`${label}: ${problems.join('; ')}. Without them the KV cache cannot be computed.`);
  }

  const embd = tensorInfos.find((t) => t.name === 'token_embd.weight');
  const vocabFromTensor = embd && embd.shape.length >= 2 ? Number(embd.shape[1]) : null;
  const tokens = metadata['tokenizer.ggml.tokens'];
  const vocabSize = vocabFromTensor ?? int(`${arch}.vocab_size`, false) ?? (Array.isArray(tokens) ? tokens.length : null);
  const fileType = metadata['general.file_type'];
  return {
    path,
    architecture: arch,
    name: typeof metadata['general.name'] === 'string' ? metadata['general.name'] : null,
    fileType: typeof fileType === 'number' ? fileType : null,
    fileBytes,
    tensorCount: tensorInfos.length,
    weightsBytes,
    blockCount,
    embeddingLength,
    headCount,
    headCountKv,
    keyLength,
    valueLength,
    vocabSize,
    trainedContext: int(`${arch}.context_length`, false),
  };
}

/** KV cache bytes for a model shape: per layer, K and V of every cached token. */
export function kvCacheBytes(model: Pick<GgufModel, 'headCountKv' | 'keyLength' | 'valueLength'>, contextLength: number, parallel: number, type: KvCacheType): number {
  const cells = contextLength * parallel;
  let elements = 0;
  for (const kvHeads of model.headCountKv) elements += cells * kvHeads * (model.keyLength + model.valueLength);
  return Math.ceil(elements * KV_BYTES_PER_ELEMENT[type]);
}

/**
 * The compute buffers llama.cpp reserves for one micro-batch, in f32: the logits
 * (vocabulary × batch) or, without flash attention, the attention scores (heads × cached tokens ×
 * batch), whichever is larger, plus one hidden state per token of the batch. For Llama 3.2 3B at
 * 4096 tokens this is 256.5 MiB, what llama.cpp reports.
 */
export function computeBufferBytes(model: Pick<GgufModel, 'vocabSize' | 'embeddingLength' | 'headCount'>, contextLength: number, parallel: number, ubatch: number, flashAttention: boolean): number {
  const cells = contextLength * parallel;
  const batch = Math.min(ubatch, cells);
  const heads = Math.max(...model.headCount);
  const widest = Math.max(model.vocabSize ?? 0, flashAttention ? 0 : heads * cells);
  return batch * 4 * (widest + model.embeddingLength);
}

export function estimateVram(model: GgufModel, options: EstimateOptions): VramEstimate {
  const o: Required<EstimateOptions> = {
    flashAttention: false,
    ubatch: DEFAULT_UBATCH,
    runtimeOverheadBytes: DEFAULT_RUNTIME_OVERHEAD,
    ...options,
  };
  const weightsBytes = model.weightsBytes;
  const kv = kvCacheBytes(model, o.contextLength, o.parallel, o.kvCacheType);
  const compute = computeBufferBytes(model, o.contextLength, o.parallel, o.ubatch, o.flashAttention);
  const notes: string[] = [];
  if (model.trainedContext !== null && o.contextLength > model.trainedContext) {
    notes.push(`The context ${o.contextLength} is above the ${model.trainedContext} tokens the model was trained for.`);
  }
  if (model.vocabSize === null) notes.push('The vocabulary size is not in the file: the compute buffer may be underestimated.');
  return {
    ok: true,
    model,
    options: o,
    weightsBytes,
    kvCacheBytes: kv,
    computeBytes: compute,
    runtimeBytes: o.runtimeOverheadBytes,
    totalBytes: weightsBytes + kv + compute + o.runtimeOverheadBytes,
    notes,
  };
}

/** Reads the file and estimates; never throws. */
export async function estimateGgufFile(path: string, options: EstimateOptions): Promise<VramEstimate | NoEstimate> {
  const model = await readGgufModel(path);
  return isNoEstimate(model) ? model : estimateVram(model, options);
}

export function isNoEstimate(x: GgufModel | VramEstimate | NoEstimate): x is NoEstimate {
  return 'ok' in x && x.ok === false;
}

/** "weights 1918 MiB + KV cache 448 MiB (4096 × 1, f16) + compute 257 MiB + CUDA context 256 MiB" */
export function describeEstimate(e: VramEstimate): string {
  const o = e.options;
  return (
    `weights ${formatMiB(e.weightsBytes)} + KV cache ${formatMiB(e.kvCacheBytes)} (${o.contextLength} tokens × ${o.parallel} slot${o.parallel === 1 ? '' : 's'}, ${o.kvCacheType}) ` +
    `+ compute ${formatMiB(e.computeBytes)} + CUDA context ${formatMiB(e.runtimeBytes)}`
  );
}

/** "Llama 3.2 3B Instruct (llama)" or the file name. */
export function modelLabel(model: { path: string; name?: string | null; architecture: string | null }): string {
  const file = model.path.split(/[\\/]/).pop() || model.path;
  return model.name ? `${model.name} (${model.architecture ?? 'unknown'}, ${file})` : file;
}
