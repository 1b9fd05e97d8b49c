/**
 * Which of a model's tensors llama.cpp puts on the GPU, and what their buffer takes there
 * (llama-model.cpp `load_tensors`):
 * - the input layer (token embedding and other `token_*`/per-layer embeddings) stays on the CPU —
 *   but LFM2's `token_embd_norm` is its output norm, on the output layer's device;
 * - `-ngl N` counts the output layer as the last layer (llama-model.cpp v0.5.0: `i_gpu_start =
 *   n_layer + 1 − N`): the output layer goes to the GPU first, then the last N − 1 repeating layers
 *   ("offloading output layer to GPU", "offloading N−1 repeating layers to GPU"); `-ngl 0` keeps
 *   everything on the CPU, `-ngl 99`, `all` and the default offload everything (builds before
 *   December 2025: the last N layers, the output layer only above the layer count);
 * - a model without `output.weight` (tied embeddings) gets a copy of the token embedding as its
 *   output layer, on the output layer's device;
 * - `--cpu-moe`, `--n-cpu-moe N` (the expert tensors of layers 0 … N−1) and `-ot PATTERN=CPU`
 *   keep matching tensors on the CPU (a pattern matches anywhere in the name, as std::regex_search);
 * - multi-token-prediction (NextN) layers are placed like any other layer (they are the last ones,
 *   so on the GPU first) but their tensors are loaded only with `--spec-type draft-mtp`
 *   (llama_model_params.load_mtp; without it llama.cpp creates them with TENSOR_SKIP).
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
  /**
   * With `-ts` over several devices (`-sm layer`): each device's weights, repeating layers and
   * whether it holds the output layer, in device order; null for one device.
   */
  readonly devices: readonly DeviceShare[] | null;
  /** The device index of layer `il` (`layers`: the output layer), -1 on the CPU. */
  readonly deviceOf: (il: number) => number;
}

export interface DeviceShare {
  readonly weightsBytes: number;
  readonly layers: number;
  readonly outputLayer: boolean;
}

/**
 * llama.cpp's split points (llama-model.cpp `load_tensors`): the proportions summed and normalized
 * in float, a layer going to the first device whose point lies above (il − i_gpu_start) / layers.
 */
function splitPoints(shares: readonly number[]): number[] {
  const f = Math.fround;
  const points: number[] = [];
  let sum = f(0);
  for (const x of shares) {
    sum = f(sum + f(x));
    points.push(sum);
  }
  return points.map((p) => f(p / sum));
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

/**
 * llama.cpp pull request 18148 ("offload output layer to GPU first", merged 2025-12-17) made `-ngl`
 * count the output layer first; builds before put the last N repeating layers on the GPU and the
 * output layer only when N exceeded the layer count (`i_gpu_start = n_layer − N`). The build number
 * is approximate (b7217 of 2025-12-01 is before).
 */
export const OUTPUT_LAYER_FIRST_SINCE = { date: '2025-12-17', build: 7400 } as const;

/** Whether a llama.cpp build offloads the output layer first, from its build number or date; unknown: yes (v0.5.0). */
export function offloadsOutputLayerFirst(when: { build?: number | null; date?: string | null }): boolean {
  if (when.build !== undefined && when.build !== null) return when.build >= OUTPUT_LAYER_FIRST_SINCE.build;
  const m = when.date ? /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?/.exec(when.date) : null;
  if (!m) return true;
  const given = [Number(m[1]), m[2] ? Number(m[2]) : 12, m[3] ? Number(m[3]) : 31];
  const since = OUTPUT_LAYER_FIRST_SINCE.date.split('-').map(Number);
  for (let i = 0; i < 3; i++) if (given[i] !== since[i]) return (given[i] as number) > (since[i] as number);
  return true;
}

export function placeWeights(
  model: GgufModel,
  settings: Pick<LlamaSettings, 'gpuLayers' | 'cpuMoeAll' | 'cpuMoeLayers' | 'cpuTensorPatterns'> &
    Partial<Pick<LlamaSettings, 'mtp' | 'tensorSplit' | 'splitMode'>>,
  outputLayerFirst = true,
): WeightsPlacement {
  const ngl = resolveGpuLayers(model, settings.gpuLayers);
  const firstGpuLayer = outputLayerFirst ? Math.min(model.layers, Math.max(0, model.layers + 1 - ngl)) : Math.max(0, model.layers - ngl);
  const outputOnGpu = outputLayerFirst ? ngl >= 1 : ngl > model.layers;
  const shares = settings.tensorSplit && settings.tensorSplit.length > 1 && (settings.splitMode ?? 'layer') === 'layer' ? settings.tensorSplit : null;
  const points = shares ? splitPoints(shares) : null;
  const iGpuStart = outputLayerFirst ? Math.max(0, model.layers + 1 - ngl) : Math.max(0, model.layers - ngl);
  const active = Math.min(ngl, model.layers + 1);
  const deviceOf = (il: number): number => {
    const onGpu = il === model.layers ? outputOnGpu : il >= firstGpuLayer;
    if (!onGpu) return -1;
    if (!points) return 0;
    const at = Math.fround(Math.fround(il - iGpuStart) / active);
    const i = points.findIndex((p) => p > at);
    return i < 0 ? points.length - 1 : i;
  };
  const perDevice = shares ? shares.map(() => ({ weightsBytes: 0, layers: 0, outputLayer: false })) : null;
  const patterns: RegExp[] = [];
  const badPatterns: string[] = [];
  for (const p of settings.cpuTensorPatterns) {
    try {
      patterns.push(new RegExp(p));
    } catch {
      badPatterns.push(p);
    }
  }
  const firstLoadedSkip = settings.mtp ? model.layers : model.layers - model.skippedLayers;
  let gpuBytes = 0;
  let cpuBytes = 0;
  let cpuOverriddenBytes = 0;
  let hasOutput = false;
  for (const t of model.tensors) {
    if (t.name === 'output.weight') hasOutput = true;
    const layerMatch = LAYER.exec(t.name);
    const layer = layerMatch ? Number(layerMatch[1]) : null;
    if (layer !== null && layer >= firstLoadedSkip && model.skippedLayers > 0) continue;
    let where: number;
    if (layer !== null) where = deviceOf(layer);
    else if (INPUT.test(t.name) && !(t.name === 'token_embd_norm.weight' && OUTPUT_NORM_AS_EMBD_NORM.has(model.architecture))) where = -1;
    else where = deviceOf(model.layers);
    let onGpu = where >= 0;
    if (onGpu) {
      const expertToCpu = EXPERTS.test(t.name) && (settings.cpuMoeAll || (layer !== null && settings.cpuMoeLayers !== null && layer < settings.cpuMoeLayers));
      if (expertToCpu || patterns.some((re) => re.test(t.name))) {
        cpuOverriddenBytes += t.bytes;
        onGpu = false;
      }
    }
    if (onGpu) {
      gpuBytes += cudaTensorBytes(t);
      const d = perDevice?.[where];
      if (d) d.weightsBytes += cudaTensorBytes(t);
    } else cpuBytes += t.bytes;
  }
  // Tied embeddings: the output layer is a copy of the token embedding.
  if (!hasOutput && outputOnGpu) {
    const embd = model.tensors.find((t) => t.name === 'token_embd.weight');
    if (embd) {
      gpuBytes += cudaTensorBytes(embd);
      const d = perDevice?.[deviceOf(model.layers)];
      if (d) d.weightsBytes += cudaTensorBytes(embd);
    }
  }
  if (perDevice) {
    for (let il = firstGpuLayer; il < model.layers; il++) {
      const d = perDevice[deviceOf(il)];
      if (d) d.layers++;
    }
    const out = perDevice[deviceOf(model.layers)];
    if (out) out.outputLayer = true;
  }
  return { gpuBytes, cpuBytes, gpuLayers: model.layers - firstGpuLayer, outputOnGpu, cpuOverriddenBytes, badPatterns, devices: perDevice, deviceOf };
}
