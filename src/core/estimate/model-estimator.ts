/**
 * One model file, read once, estimated at as many settings as a caller needs (the fit advice tries
 * dozens): the file's header is read here and every `estimate(settings)` after that is pure and
 * fast. This is the one place the consumers (gate, pre-flight, spike) reach the sizing.
 */
import { estimateVram as estimateLegacy, readGgufModel as readLegacy, isNoEstimate as isLegacyNoEstimate, modelLabel, type GgufModel } from '../checks/gguf-estimate.ts';
import type { EstimateResult, NoEstimate, VramEstimate } from './estimate-types.ts';
import type { LlamaSettings } from './llama-settings.ts';

export interface ModelEstimator {
  readonly modelPath: string;
  /** "Llama 3.2 3B Instruct (llama, Llama-3.2-3B-Instruct-Q4_K_M.gguf)" or the file name. */
  readonly label: string;
  /** The context the model was trained for (llama.cpp's default `-c`), or null. */
  readonly trainedContext: number | null;
  readonly layers: number;
  estimate(settings: LlamaSettings): EstimateResult;
}

/** llama-server's default slots when `-np` is not given (and no `-kvu`, no draft model): 4, over one unified cache. */
export const SERVER_DEFAULT_SLOTS = 4;
/** llama.cpp's default micro-batch. */
export const DEFAULT_UBATCH = 512;

/** Reads the model's header; a file that cannot be read or sized is a NoEstimate with the reason. */
export async function openModelEstimator(modelPath: string): Promise<ModelEstimator | NoEstimate> {
  const model = await readLegacy(modelPath);
  if (isLegacyNoEstimate(model)) return { kind: 'none', modelPath, reason: `${model.reason} ${model.advice}` };
  return {
    modelPath,
    label: modelLabel({ path: model.path, name: model.name, architecture: model.architecture }),
    trainedContext: model.trainedContext,
    layers: model.blockCount,
    estimate: (settings) => estimateWithLegacy(model, settings),
  };
}

/** Reads and estimates once; never throws. */
export async function estimateModelFile(modelPath: string, settings: LlamaSettings): Promise<EstimateResult> {
  const e = await openModelEstimator(modelPath);
  return 'estimate' in e ? e.estimate(settings) : e;
}

export function isEstimator(x: ModelEstimator | NoEstimate): x is ModelEstimator {
  return 'estimate' in x;
}

/** Interim sizing over the first formula until the per-part sizing lands; same contract. */
function estimateWithLegacy(model: GgufModel, s: LlamaSettings): VramEstimate {
  const notes: string[] = [];
  const draft = s.draft !== null;
  const parallel = s.parallel ?? (s.kvUnified || draft ? 1 : SERVER_DEFAULT_SLOTS);
  if (s.parallel === null && parallel === SERVER_DEFAULT_SLOTS) notes.push(`no -np: llama-server's default, ${SERVER_DEFAULT_SLOTS} slots over one unified KV cache`);
  const kvUnified = s.kvUnified ?? s.parallel === null;
  let context = s.contextTokens ?? 0;
  if (context === 0) {
    context = model.trainedContext ?? 4096;
    notes.push(`no -c: the model's training context, ${context} tokens`);
  }
  const flash = s.flashAttention === 'off' ? 'off' : 'on';
  if (s.flashAttention !== 'on' && flash === 'on') notes.push('flash attention: auto, on for a CUDA GPU');
  const cacheTypeK = s.cacheTypeK ?? 'f16';
  const cacheTypeV = s.cacheTypeV ?? 'f16';
  const ubatch = s.ubatchTokens ?? DEFAULT_UBATCH;
  const e = estimateLegacy(model, { contextLength: Math.ceil(context / parallel), parallel, kvCacheType: cacheTypeK, flashAttention: flash === 'on', ubatch });
  notes.push(...e.notes);
  return {
    kind: 'estimate',
    modelPath: model.path,
    architecture: model.architecture,
    parts: { weightsBytes: e.weightsBytes, kvCacheBytes: e.kvCacheBytes, recurrentStateBytes: 0, computeBufferBytes: e.computeBytes, projectorBytes: 0, draftBytes: 0, runtimeBytes: e.runtimeBytes },
    totalBytes: e.totalBytes,
    assumptions: { contextTokens: context, parallel, kvUnified, flashAttention: flash, cacheTypeK, cacheTypeV, ubatchTokens: ubatch, gpuLayers: model.blockCount, totalLayers: model.blockCount, notes },
  };
}
