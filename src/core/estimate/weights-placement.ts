/**
 * Which of a model's tensors llama.cpp puts on the GPU, and what their buffer takes there
 * (llama-model.cpp `load_tensors`):
 * - the input layer (token embedding and other `token_*`/per-layer embeddings) stays on the CPU —
 *   but LFM2's `token_embd_norm` is its output norm, on the output layer's device;
 * - `-ngl N` counts the output layer first: it goes to the GPU with any N ≥ 1, and with it the last
 *   N − 1 repeating layers (`i_gpu_start = n_layer_all + 1 − N`, where n_layer_all counts the
 *   multi-token-prediction layers too); `-ngl 99`, `all` and the default put everything there.
 *   (llama.cpp before mid-2025 offloaded N repeating layers and the output layer only above n_layer.)
 * - a model without `output.weight` (tied embeddings) gets a copy of the token embedding as its
 *   output layer, on the output layer's device;
 * - `--cpu-moe`, `--n-cpu-moe N` (the expert tensors of layers 0 … N−1) and `-ot PATTERN=CPU`
 *   keep matching tensors on the CPU (a pattern matches anywhere in the name, as std::regex_search);
 * - multi-token-prediction layers llama.cpp skips are not loaded.
 * In the CUDA buffer a quantized tensor whose rows are not a multiple of 512 elements gets one
 * padded row more (ggml-cuda `get_alloc_size`), and each tensor starts 128-byte aligned.
 */
import type { GgufModel, ModelTensor } from './gguf-model.ts';
import { GGML_TYPES, rowBytes } from './ggml-types.ts';
import type { LlamaSettings } from './llama-settings.ts';

const CUDA_ALIGNMENT = 128;
const CUDA_MATRIX_ROW_PADDING = 512;

export interface WeightsPlacement {
  readonly gpuBytes: number;
  readonly cpuBytes: number;
  /** Repeating layers on the GPU. */
  readonly gpuLayers: number;
  readonly outputOnGpu: boolean;
  /** Expert tensors kept on the CPU by --cpu-moe / --n-cpu-moe / -ot. */
  readonly cpuOverriddenBytes: number;
  /** Patterns that are not valid regular expressions (llama.cpp would refuse them). */
  readonly badPatterns: readonly string[];
}

/** Bytes a tensor takes in a CUDA buffer. */
export function cudaTensorBytes(t: ModelTensor): number {
  let size = t.bytes;
  const type = GGML_TYPES.get(t.type);
  const ne0 = t.shape[0] ?? 1;
  if (type && type.blockElements > 1 && ne0 % CUDA_MATRIX_ROW_PADDING !== 0) size += rowBytes(type, CUDA_MATRIX_ROW_PADDING - (ne0 % CUDA_MATRIX_ROW_PADDING));
  return Math.ceil(size / CUDA_ALIGNMENT) * CUDA_ALIGNMENT;
}

const LAYER = /^blk\.(\d+)\./;
const EXPERTS = /^blk\.\d+\.ffn_(up|down|gate|gate_up)_(ch)?exps/;
const INPUT = /^(token_embd|token_types|position_embd|per_layer_token_embd|tok_embd|token_embd_norm)\./;
/** Architectures whose output norm llama.cpp names `token_embd_norm` (LLM_TENSOR_OUTPUT_NORM_LFM2). */
const OUTPUT_NORM_AS_EMBD_NORM = new Set(['lfm2', 'lfm2moe']);

/** The layer count `-ngl` resolves to (null/'all': every layer and the output layer). */
export function resolveGpuLayers(model: Pick<GgufModel, 'layers'>, gpuLayers: LlamaSettings['gpuLayers']): number {
  if (gpuLayers === null || gpuLayers === 'all' || gpuLayers < 0) return model.layers + 1;
  return Math.min(gpuLayers, model.layers + 1);
}

export function placeWeights(
  model: GgufModel,
  settings: Pick<LlamaSettings, 'gpuLayers' | 'cpuMoeAll' | 'cpuMoeLayers' | 'cpuTensorPatterns'>,
): WeightsPlacement {
  const ngl = resolveGpuLayers(model, settings.gpuLayers);
  const firstGpuLayer = Math.min(model.layers, Math.max(0, model.layers + 1 - ngl));
  const outputOnGpu = ngl >= 1;
  const patterns: RegExp[] = [];
  const badPatterns: string[] = [];
  for (const p of settings.cpuTensorPatterns) {
    try {
      patterns.push(new RegExp(p));
    } catch {
      badPatterns.push(p);
    }
  }
  const firstLoadedSkip = model.layers - model.skippedLayers;
  let gpuBytes = 0;
  let cpuBytes = 0;
  let cpuOverriddenBytes = 0;
  let hasOutput = false;
  for (const t of model.tensors) {
    if (t.name === 'output.weight') hasOutput = true;
    const layerMatch = LAYER.exec(t.name);
    const layer = layerMatch ? Number(layerMatch[1]) : null;
    if (layer !== null && layer >= firstLoadedSkip && model.skippedLayers > 0) continue;
    let onGpu: boolean;
    if (layer !== null) onGpu = layer >= firstGpuLayer;
    else if (INPUT.test(t.name) && !(t.name === 'token_embd_norm.weight' && OUTPUT_NORM_AS_EMBD_NORM.has(model.architecture))) onGpu = false;
    else onGpu = outputOnGpu;
    if (onGpu) {
      const expertToCpu = EXPERTS.test(t.name) && (settings.cpuMoeAll || (layer !== null && settings.cpuMoeLayers !== null && layer < settings.cpuMoeLayers));
      if (expertToCpu || patterns.some((re) => re.test(t.name))) {
        cpuOverriddenBytes += t.bytes;
        onGpu = false;
      }
    }
    if (onGpu) gpuBytes += cudaTensorBytes(t);
    else cpuBytes += t.bytes;
  }
  // Tied embeddings: the output layer is a copy of the token embedding.
  if (!hasOutput && outputOnGpu) {
    const embd = model.tensors.find((t) => t.name === 'token_embd.weight');
    if (embd) gpuBytes += cudaTensorBytes(embd);
  }
  return { gpuBytes, cpuBytes, gpuLayers: model.layers - firstGpuLayer, outputOnGpu, cpuOverriddenBytes, badPatterns };
}
