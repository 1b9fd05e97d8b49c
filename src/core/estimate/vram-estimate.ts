/**
 * What a llama.cpp server will take on one GPU, part by part, for a model and the settings its
 * arguments give, with llama-server's defaults applied where an argument is absent:
 *
 * - no `-c` (or `-c 0`): the model's training context; with `--fit` (on by default) and the free
 *   memory known, the largest context (≥ 4096) that leaves the fit target free;
 * - no `-np`: 4 slots sharing one unified cache (`-np N` alone: N streams of n_ctx / N cells);
 * - `-fa auto`: on where the CUDA kernels support the model's head sizes;
 * - a quantized V cache needs flash attention: `-fa auto` turns it on, `-fa off` is refused with
 *   llama.cpp's own message (llama-context.cpp `llama_init_from_model`);
 * - `-ub` 512, `-b` 2048, every layer on the GPU.
 *
 * Never throws: what llama.cpp itself would refuse is a `NoEstimate` with the reason.
 */
import { computeBufferBytes, type LlamaGraphEra } from './compute-buffer-size.ts';
import type { EstimateResult, GpuShare, NoEstimate, VramEstimate } from './estimate-types.ts';
import { isQuantizedKvType } from './ggml-types.ts';
import { modelLabel, type GgufModel } from './gguf-model.ts';
import { CONTEXT_PADDING, kvCacheBytes, mtpKvCacheBytes, pad, recurrentStateBytes, swaCells } from './kv-cache-size.ts';
import { DEFAULT_LLAMA_SETTINGS, type KvCacheType, type LlamaSettings } from './llama-settings.ts';
import { projectorBytes } from './projector-size.ts';
import type { ProjectorModel } from './projector-model.ts';
import { placeWeights } from './weights-placement.ts';
import { MiB } from '../units.ts';

const GiB = 1024 * MiB;

/** llama-server's defaults for what the settings leave open. */
export const LLAMA_SERVER_DEFAULTS = {
  parallel: 4,
  batchTokens: 2048,
  ubatchTokens: 512,
  /** `--fit-target`: what `--fit` leaves free per device. */
  fitTargetBytes: 1 * GiB,
  /** `--fit` never goes below this context (`--fit-ctx`). */
  fitMinContext: 4096,
} as const;

/**
 * The server process's CUDA context, cuBLAS workspace and runtime allocations, which NVML counts
 * against the process but no llama.cpp buffer shows.
 */
export const CUDA_RUNTIME_BYTES = 256 * MiB;

/**
 * Cache types ggml-cuda's flash-attention kernels read (fattn.cu `ggml_cuda_fattn_kv_type_supported`).
 * iq4_nl is not among them.
 */
const FA_CACHE_TYPES: ReadonlySet<KvCacheType> = new Set(['f32', 'f16', 'bf16', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0']);

/**
 * Whether ggml-cuda has a flash-attention kernel for one layer's heads (fattn.cu
 * `ggml_cuda_get_best_fattn_kernel`): K = V of 40, 64, 72, 80, 96, 112, 128 or 256; 512 = 512 (Gemma 4's
 * full-attention layers) and DeepSeek's 576/512 only with grouped queries (gqa ≥ 2); 192/128 with
 * gqa a multiple of 8; 320/256 with gqa a multiple of 32.
 */
export function cudaFlashAttentionHeads(kLen: number, vLen: number, gqa: number): boolean {
  const grouped = gqa >= 2;
  switch (kLen) {
    case 40:
    case 64:
    case 72:
    case 80:
    case 96:
    case 112:
    case 128:
    case 256:
      return vLen === kLen;
    case 192:
      return vLen === 128 && grouped && gqa % 8 === 0;
    case 320:
      return vLen === 256 && grouped && gqa % 32 === 0;
    case 512:
      return vLen === 512 && grouped;
    case 576:
      return vLen === 512 && grouped;
    default:
      return false;
  }
}

export interface EstimateOptions {
  /** Free memory on the GPU now: lets `--fit` pick the context the server will pick. */
  readonly gpuFreeBytes?: number;
  /** The `--mmproj` file, read with `readProjector`. */
  readonly projector?: ProjectorModel;
  /** The draft model (`-md`), read with `readGgufModel`. */
  readonly draft?: GgufModel;
  /**
   * Logits rows the compute graph is reserved for. llama-server (the default) reserves one per
   * slot; a runner that keeps every token's logits (Ollama's runner, llama-cli) reserves n_ubatch:
   * pass `'ubatch'`.
   */
  readonly outputRows?: number | 'ubatch';
  /**
   * The llama.cpp build the server runs, where it is known to predate June 2026: its graph keeps an
   * f32 KQ mask beside the f16 one, and llama-server then reserved every micro-batch token's logits
   * (unless `outputRows` says otherwise). Default: llama.cpp v0.5.0's graph.
   */
  readonly graph?: LlamaGraphEra;
  /** False for a llama.cpp build before December 2025, whose `-ngl N` did not count the output layer first. */
  readonly outputLayerFirst?: boolean;
}

interface Resolved {
  contextTokens: number;
  parallel: number;
  unified: boolean;
  flashAttention: boolean;
  cacheTypeK: KvCacheType;
  cacheTypeV: KvCacheType;
  ubatch: number;
  notes: string[];
}

/**
 * Why `-fa auto` resolves to off on a CUDA GPU (llama-context.cpp `resolve_fused_ops`: the probe graph's
 * flash-attention node must stay on the layer's device), or null when every attention layer has a kernel.
 */
function flashAttentionSupported(model: GgufModel, k: KvCacheType, v: KvCacheType): string | null {
  const latent = model.latentAttention;
  const mla = latent?.compressedCache;
  for (let il = 0; il < model.layers; il++) {
    if (!model.kvLayers[il]) continue;
    const swa = model.swaLayers[il] && model.keyLengthSwa > 0;
    const kLen = latent && mla ? latent.kvLoraRank + latent.ropeDimensions : swa ? model.keyLengthSwa : model.keyLength;
    const vLen = latent && mla ? latent.kvLoraRank : swa ? model.valueLengthSwa || model.keyLengthSwa : model.valueLength;
    const heads = model.headCount[il] ?? 0;
    const kvHeads = latent && mla ? 1 : (model.headCountKv[il] ?? 0);
    const gqa = kvHeads > 0 ? heads / kvHeads : 0;
    if (!cudaFlashAttentionHeads(kLen, vLen, gqa)) {
      if (kLen !== vLen && kLen !== 576 && kLen !== 192 && kLen !== 320) return `its K and V heads differ in size (${kLen} and ${vLen})`;
      return kLen === 512 || kLen === 576 || kLen === 192 || kLen === 320
        ? `its head size ${kLen} has a CUDA flash-attention kernel only for grouped queries, and layer ${il} has ${heads} query heads for ${kvHeads} KV heads`
        : `its head size ${kLen} has no CUDA flash-attention kernel`;
    }
  }
  for (const t of [k, v]) if (!FA_CACHE_TYPES.has(t)) return `the CUDA flash-attention kernels do not read a ${t} cache`;
  return null;
}

/** Block size of the quantized cache types (all of them hold 32 elements per block). */
const KV_BLOCK = 32;

/**
 * The settings as llama.cpp resolves them (llama-context.cpp `llama_init_from_model`), or what
 * llama.cpp prints when it refuses them.
 */
function resolve(model: GgufModel, s: LlamaSettings): Resolved | { refused: string } {
  const notes: string[] = [];
  const parallel = s.parallel !== null && s.parallel > 0 ? s.parallel : LLAMA_SERVER_DEFAULTS.parallel;
  if (s.parallel === null || s.parallel <= 0) notes.push(`no -np: llama-server's ${LLAMA_SERVER_DEFAULTS.parallel} slots, sharing one unified KV cache`);
  const unified = s.kvUnified ?? (s.parallel === null || s.parallel <= 0);
  let contextTokens = s.contextTokens !== null && s.contextTokens > 0 ? s.contextTokens : model.trainedContext;
  if (s.contextTokens === null || s.contextTokens <= 0) notes.push(`no -c: the model's training context, ${model.trainedContext} tokens`);
  contextTokens = Math.max(1, contextTokens);
  const cacheTypeK = s.cacheTypeK ?? 'f16';
  const cacheTypeV = s.cacheTypeV ?? 'f16';
  if (model.latentAttention && cacheTypeK !== cacheTypeV)
    return { refused: `model does not support different K (${cacheTypeK}) and V (${cacheTypeV}) cache types` };
  let fa = s.flashAttention ?? 'auto';
  if (isQuantizedKvType(cacheTypeV)) {
    if (fa === 'off') return { refused: 'quantized V cache requires flash_attn to be enabled' };
    if (fa === 'auto') {
      fa = 'on';
      notes.push(`-ctv ${cacheTypeV}: llama.cpp turns flash attention on, since a quantized V cache requires it`);
    }
  }
  const hasAttention = model.kvLayers.some(Boolean);
  let flashAttention: boolean;
  if (fa === 'auto') {
    const unsupported = hasAttention ? flashAttentionSupported(model, cacheTypeK, cacheTypeV) : null;
    flashAttention = unsupported === null;
    notes.push(flashAttention ? '-fa auto: flash attention on (the GPU supports it for this model)' : `-fa auto: flash attention off, because ${unsupported}`);
  } else {
    flashAttention = fa === 'on';
  }
  if (flashAttention && hasAttention) {
    const latent = model.latentAttention;
    const headK = latent?.compressedCache ? latent.kvLoraRank + latent.ropeDimensions : model.keyLength;
    const headV = latent?.compressedCache ? latent.kvLoraRank : model.valueLength;
    const heads = [
      { type: cacheTypeK, side: 'K', dims: [headK, model.keyLengthSwa].filter((d) => d > 0), name: 'n_embd_head_k' },
      { type: cacheTypeV, side: 'V', dims: [headV, model.valueLengthSwa].filter((d) => d > 0), name: 'n_embd_head_v' },
    ];
    for (const h of heads) {
      if (!isQuantizedKvType(h.type)) continue;
      const bad = h.dims.find((d) => d % KV_BLOCK !== 0);
      if (bad !== undefined) return { refused: `${h.side} cache type ${h.type} with block size ${KV_BLOCK} does not divide ${h.name}=${bad}` };
    }
  }
  const batch = s.batchTokens !== null && s.batchTokens > 0 ? s.batchTokens : LLAMA_SERVER_DEFAULTS.batchTokens;
  const ubatch = Math.min(batch, s.ubatchTokens !== null && s.ubatchTokens > 0 ? s.ubatchTokens : LLAMA_SERVER_DEFAULTS.ubatchTokens);
  return { contextTokens, parallel, unified, flashAttention, cacheTypeK, cacheTypeV, ubatch, notes };
}

interface Sized {
  weights: number;
  kv: number;
  recurrent: number;
  compute: number;
  /** The `--spec-type draft-mtp` draft context on the GPU: its KV cache and compute buffer. */
  mtp: number;
  gpuLayers: number;
  cells: number;
  devices: GpuShare[] | null;
}

/** The parts at one context size (llama-context.cpp pads n_ctx to 256, and each stream when not unified). */
function size(model: GgufModel, s: LlamaSettings, r: Resolved, contextTokens: number, options: EstimateOptions): Sized {
  const outputRows = options.outputRows ?? (options.graph === 'before-2026-06' ? 'ubatch' : undefined);
  const placement = placeWeights(model, s, options.outputLayerFirst ?? true);
  let streamCells: number;
  let streams: number;
  if (r.unified) {
    streamCells = pad(contextTokens, CONTEXT_PADDING);
    streams = 1;
  } else {
    const total = pad(contextTokens, CONTEXT_PADDING);
    streamCells = pad(Math.floor(total / r.parallel), CONTEXT_PADDING);
    streams = r.parallel;
  }
  const cells = streamCells * streams;
  const swa = swaCells(model, streamCells, streams, r.parallel, r.unified, r.ubatch, s.swaFull);
  const firstGpuLayer = model.layers - placement.gpuLayers;
  const kv = kvCacheBytes(model, { cells, swaCells: swa, cacheTypeK: r.cacheTypeK, cacheTypeV: r.cacheTypeV, firstGpuLayer, sequences: r.parallel });
  const recurrent = recurrentStateBytes(model, { firstGpuLayer, sequences: r.parallel });
  const graphShape = {
    tokens: Math.min(r.ubatch, cells),
    outputRows: outputRows === 'ubatch' ? r.ubatch : (outputRows ?? r.parallel),
    kvCells: streamCells,
    swaKvCells: swa / streams,
    flashAttention: r.flashAttention,
    outputOnGpu: placement.outputOnGpu,
    anyLayerOnGpu: placement.gpuLayers > 0,
    cpuLayers: firstGpuLayer,
    opOffload: s.opOffload,
    // v0.5.0 reserves for n_seq_max sequences; builds before June 2026 for one when the cache was unified.
    sequences: options.graph === 'before-2026-06' && r.unified ? 1 : r.parallel,
    graph: options.graph,
  };
  let compute = computeBufferBytes(model, graphShape).totalBytes;
  // Several devices (-ts, -sm layer): each holds its layers' weights and cache, and reserves a
  // compute buffer of its own for the graph's part on it (the logits on the output layer's device).
  let devices: GpuShare[] | null = null;
  if (placement.devices) {
    devices = placement.devices.map((d, i) => ({
      weightsBytes: d.weightsBytes,
      kvCacheBytes: kvCacheBytes(model, {
        cells,
        swaCells: swa,
        cacheTypeK: r.cacheTypeK,
        cacheTypeV: r.cacheTypeV,
        firstGpuLayer,
        sequences: r.parallel,
        onDevice: (il) => placement.deviceOf(il) === i,
      }),
      computeBufferBytes:
        d.layers > 0 || d.outputLayer ? computeBufferBytes(model, { ...graphShape, outputOnGpu: d.outputLayer, anyLayerOnGpu: d.layers > 0 }).totalBytes : 0,
      layers: d.layers,
      outputLayer: d.outputLayer,
    }));
    compute = devices.reduce((a, d) => a + d.computeBufferBytes, 0);
  }
  // The MTP draft context (common/speculative.cpp): the main context's n_ctx, sequences and
  // micro-batch, a cache of the NextN layers only, in -ctkd/-ctvd (f16 by default). Its compute
  // buffer is sized as the main context's: the same logits rows and one layer's attention at the
  // same context (llama.cpp's dry run on Vulkan reserves 70–90 % of the main one), on the GPU
  // wherever the main one is.
  let mtp = 0;
  if (s.mtp && model.skippedLayers > 0) {
    const cacheTypeK = s.mtp.cacheTypeK ?? 'f16';
    const cacheTypeV = s.mtp.cacheTypeV ?? 'f16';
    mtp = mtpKvCacheBytes(model, { cells, swaCells: swa, cacheTypeK, cacheTypeV, firstGpuLayer, sequences: r.parallel });
    mtp += compute;
  }
  return { weights: placement.gpuBytes, kv, recurrent, compute, mtp, gpuLayers: placement.gpuLayers, cells, devices };
}

function none(model: GgufModel, reason: string): NoEstimate {
  return { kind: 'none', modelPath: model.path, reason };
}

/** The estimate for `model` run with `settings`. Never throws. */
export function estimateVram(model: GgufModel, settings: LlamaSettings = DEFAULT_LLAMA_SETTINGS, options: EstimateOptions = {}): EstimateResult {
  try {
    return estimate(model, settings, options);
  } catch (err) {
    return none(model, `the estimate failed for ${modelLabel(model)}: ${(err as Error).message}`);
  }
}

function estimate(model: GgufModel, settings: LlamaSettings, options: EstimateOptions): EstimateResult {
  const placement = placeWeights(model, settings);
  if (placement.badPatterns.length)
    return none(
      model,
      `-ot ${placement.badPatterns.map((p) => JSON.stringify(p)).join(', ')}: not a valid regular expression, so llama-server would refuse it.`,
    );
  const resolved = resolve(model, settings);
  if ('refused' in resolved)
    return none(model, `llama-server would refuse these settings: llama.cpp says "${resolved.refused}" and does not create the context.`);
  const r = resolved;
  if (settings.mtp && model.skippedLayers === 0)
    return none(
      model,
      `llama-server would refuse these settings: --spec-type draft-mtp needs multi-token-prediction layers and ${modelLabel(model)} has none (llama.cpp: "context type MTP requested but model doesn't contain MTP layers").`,
    );
  if (settings.mtp)
    r.notes.push(
      `--spec-type draft-mtp: the ${model.skippedLayers} multi-token-prediction layer(s) are loaded, with a draft context of the main context's size (its KV cache and compute buffer are counted as the draft)`,
    );
  else if (model.skippedLayers > 0) r.notes.push(`the ${model.skippedLayers} multi-token-prediction layer(s) are not loaded (no --spec-type draft-mtp)`);
  const split = settings.tensorSplit;
  if (split && split.length > 1) {
    if ((settings.splitMode ?? 'layer') === 'layer')
      r.notes.push(
        `-ts ${split.join(',')}: the layers split over ${split.length} devices, each with its own compute buffer (pipeline parallelism's copies of the inputs are not counted)`,
      );
    else r.notes.push(`-sm ${settings.splitMode}: not sized per device; the parts are the whole server's`);
  }
  if (!model.causal) r.notes.push('an embedding model (non-causal attention): llama-server runs it with --embedding and keeps no KV cache');

  const runtime = CUDA_RUNTIME_BYTES;
  const projector = options.projector && settings.projectorOffload ? projectorBytes(options.projector, r.flashAttention) : 0;
  if (options.projector && !settings.projectorOffload) r.notes.push('--no-mmproj-offload: the projector stays on the CPU');
  let draft = 0;
  if (options.draft && settings.draft) {
    const d = settings.draft;
    const draftSettings: LlamaSettings = {
      ...DEFAULT_LLAMA_SETTINGS,
      contextTokens: d.contextTokens ?? r.contextTokens,
      parallel: r.parallel,
      kvUnified: r.unified,
      flashAttention: settings.flashAttention,
      cacheTypeK: d.cacheTypeK ?? settings.cacheTypeK,
      cacheTypeV: d.cacheTypeV ?? settings.cacheTypeV,
      batchTokens: settings.batchTokens,
      ubatchTokens: settings.ubatchTokens,
      gpuLayers: d.gpuLayers,
    };
    const de = estimate(options.draft, draftSettings, {});
    if (de.kind === 'none') return none(model, `the draft model: ${de.reason}`);
    draft = de.totalBytes - de.parts.runtimeBytes;
  }
  const fixed = runtime + projector + draft;

  let context = r.contextTokens;
  const contextGiven = settings.contextTokens !== null && settings.contextTokens > 0;
  let sized = size(model, settings, r, context, options);
  const total = (x: Sized) => x.weights + x.kv + x.recurrent + x.compute + x.mtp + fixed;
  if (settings.fit !== false && !contextGiven && options.gpuFreeBytes !== undefined) {
    const target = settings.fitTargetBytes ?? LLAMA_SERVER_DEFAULTS.fitTargetBytes;
    const room = options.gpuFreeBytes - target;
    if (total(sized) > room) {
      // --fit lowers the context first: the largest multiple of 256 (≥ 4096) that leaves the target free.
      let lo = Math.min(LLAMA_SERVER_DEFAULTS.fitMinContext, context);
      let hi = context;
      if (total(size(model, settings, r, lo, options)) <= room) {
        while (hi - lo > CONTEXT_PADDING) {
          const mid = pad(Math.floor((lo + hi) / 2), CONTEXT_PADDING);
          if (mid >= hi || mid <= lo) break;
          if (total(size(model, settings, r, mid, options)) <= room) lo = mid;
          else hi = mid;
        }
        context = lo;
        sized = size(model, settings, r, context, options);
        r.notes.push(
          `--fit (on by default): the context lowered to ${context} tokens so that ${Math.round(target / MiB)} MiB stay free; the server takes all free memory but that margin`,
        );
      } else {
        context = lo;
        sized = size(model, settings, r, context, options);
        r.notes.push(`--fit (on by default) cannot make it fit even at ${context} tokens: llama-server would move layers to the CPU`);
      }
    }
  }
  if (context > model.trainedContext) r.notes.push(`the context (${context}) is above the model's training context (${model.trainedContext})`);

  const parts = {
    weightsBytes: sized.weights,
    kvCacheBytes: sized.kv,
    recurrentStateBytes: sized.recurrent,
    computeBufferBytes: sized.compute,
    projectorBytes: projector,
    draftBytes: draft + sized.mtp,
    runtimeBytes: runtime,
  };
  const result: VramEstimate = {
    kind: 'estimate',
    modelPath: model.path,
    architecture: model.architecture,
    parts,
    totalBytes: Object.values(parts).reduce((a, b) => a + b, 0),
    assumptions: {
      contextTokens: sized.cells,
      parallel: r.parallel,
      kvUnified: r.unified,
      flashAttention: r.flashAttention ? 'on' : 'off',
      cacheTypeK: r.cacheTypeK,
      cacheTypeV: r.cacheTypeV,
      ubatchTokens: r.ubatch,
      gpuLayers: sized.gpuLayers,
      totalLayers: model.layers,
      notes: r.notes,
    },
    ...(sized.devices ? { perGpu: sized.devices } : {}),
  };
  return result;
}
