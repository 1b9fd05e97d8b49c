/**
 * One model file, read once, estimated at as many settings as a caller needs (the fit advice tries
 * dozens): the headers (model, `--mmproj` projector, `-md` draft) are read here, and every
 * `estimate(settings)` after that is pure and fast. This is the one place the consumers (gate,
 * pre-flight, spike) reach the sizing.
 */
import { basename } from 'node:path';
import type { EstimateResult, NoEstimate } from './estimate-types.ts';
import { modelLabel, readGgufModel, type GgufModel } from './gguf-model.ts';
import type { LlamaSettings } from './llama-settings.ts';
import { readProjector, type ProjectorModel } from './projector-model.ts';
import { estimateVram, type EstimateOptions } from './vram-estimate.ts';

export interface ModelEstimator {
  readonly modelPath: string;
  /** "Llama 3.2 3B Instruct (llama, Llama-3.2-3B-Instruct-Q4_K_M.gguf)". */
  readonly label: string;
  /** The context the model was trained for (llama.cpp's default `-c`). */
  readonly trainedContext: number;
  readonly layers: number;
  /** Sizes the model at `settings` (the projector and draft are those read when it was opened). */
  estimate(settings: LlamaSettings): EstimateResult;
}

/** The side files a server loads with the model, by absolute path. */
export interface SideFiles {
  projectorPath?: string | null;
  draftPath?: string | null;
}

/**
 * Reads the headers; a file that cannot be read or sized is a NoEstimate with the reason. `runner`:
 * how the program that loads the model reserves its graph (Ollama's runner: `OLLAMA_RUNNER`; a
 * known llama-server build: its graph era and -ngl placement).
 */
export async function openModelEstimator(
  modelPath: string,
  side: SideFiles = {},
  runner: Pick<EstimateOptions, 'outputRows' | 'graph' | 'outputLayerFirst'> = {},
): Promise<ModelEstimator | NoEstimate> {
  const [model, projector, draft] = await Promise.all([
    readGgufModel(modelPath),
    side.projectorPath ? readProjector(side.projectorPath) : Promise.resolve(null),
    side.draftPath ? readGgufModel(side.draftPath) : Promise.resolve(null),
  ]);
  if (model.kind === 'none') return model;
  if (projector && projector.kind === 'none') return { kind: 'none', modelPath, reason: `the projector (--mmproj): ${projector.reason}` };
  if (draft && draft.kind === 'none') return { kind: 'none', modelPath, reason: `the draft model (-md): ${draft.reason}` };
  const options: EstimateOptions = {
    projector: (projector as ProjectorModel | null) ?? undefined,
    draft: (draft as GgufModel | null) ?? undefined,
    ...runner,
  };
  return {
    modelPath,
    label: `${modelLabel(model)}, ${basename(modelPath)}`,
    trainedContext: model.trainedContext,
    layers: model.layers,
    estimate: (settings) => estimateVram(model, settings, options),
  };
}

export function isEstimator(x: ModelEstimator | NoEstimate): x is ModelEstimator {
  return 'estimate' in x;
}
