/**
 * What a model server about to start will need, from what it will actually be run with: a
 * llama-server command line (the task's arguments after fallback overrides, or the CLI's
 * `--args`), or an Ollama model and Ollama's environment. The model file is read once here; the
 * settings, the estimate at them and the estimator (for fit advice) travel together to the
 * pre-flight, which knows free memory.
 */
import { access, constants, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { EstimateResult } from './estimate-types.ts';
import type { LlamaSettings } from './llama-settings.ts';
import { isEstimator, openModelEstimator, type ModelEstimator } from './model-estimator.ts';
import { findOllamaModel, OLLAMA_RUNNER, ollamaRun } from './ollama-model.ts';
import { buildNote, buildOptions, type LlamaBuildResult } from './llama-build.ts';
import { parseLlamaServerArgs } from './server-args.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface ServerNeedRequest {
  server: 'llama-server' | 'ollama';
  /** llama-server's arguments, without the program. Unused for Ollama. */
  args: readonly string[];
  /** The environment the server will see (the inherited one and the task's). */
  env: Env;
  /** Relative paths (-m, --mmproj, -md, a task's model) are resolved against it. */
  cwd: string | null;
  /** A model named outside the arguments: a task's `model`, the CLI's `--model` (a .gguf path, or an Ollama model name). */
  model: string | null;
  /** Where the settings come from, for the report: "the task's arguments", "--args". */
  from: string;
  /** The GPU's total memory (Ollama's default context depends on it); null when unknown. */
  totalVramBytes: number | null;
  /**
   * llama-server's build as its `--version` gave it (`taskLlamaBuild`), or why it could not; absent
   * or null: not asked (an untrusted workspace, no executable): sized as llama.cpp v0.5.0.
   */
  build?: LlamaBuildResult | null;
}

export interface ModelNeed {
  modelPath: string;
  settings: LlamaSettings;
  /** The flags and variables that set something ("-c 8192", "OLLAMA_KV_CACHE_TYPE=q8_0"). */
  given: string[];
  from: string;
  /** What was decided on the way (Ollama's context default, ...). */
  notes: string[];
  /** Null when the model cannot be estimated (the estimate then says why). */
  estimator: ModelEstimator | null;
  /** At the settings as given (before --fit adjusts anything). */
  estimate: EstimateResult;
  /** The model file could be opened (a missing file blocks a start; a model without an estimate does not). */
  readable: boolean;
}

export type ModelNeedResult = { ok: true; need: ModelNeed } | { ok: false; error: string };

/** A regular file this process may read: a FIFO or device named as the model blocks a start (the server could not load it either). */
const readable = (path: string) =>
  access(path, constants.R_OK)
    .then(() => stat(path))
    .then(
      (st) => st.isFile(),
      () => false,
    );

const at = (cwd: string | null, p: string) => (isAbsolute(p) || !cwd ? p : resolve(cwd, p));

function absolutePaths(s: LlamaSettings, cwd: string | null): LlamaSettings {
  return {
    ...s,
    projectorPath: s.projectorPath === null ? null : at(cwd, s.projectorPath),
    draft: s.draft === null ? null : { ...s.draft, modelPath: at(cwd, s.draft.modelPath) },
  };
}

const looksLikeFile = (m: string) =>
  /\.gguf$/i.test(m) || (m.includes('/') && (m.startsWith('.') || m.startsWith('/') || m.startsWith('~'))) || m.includes('\\');

/**
 * Parses the arguments, finds the model, reads its header and estimates at those settings. Bad
 * arguments or no model to estimate are an error the caller shows as it is; a model that cannot be
 * read or sized is an estimate of kind `none` with the reason.
 */
export async function resolveModelNeed(req: ServerNeedRequest): Promise<ModelNeedResult> {
  if (req.server === 'ollama') return resolveOllama(req);
  const parsed = parseLlamaServerArgs(req.args, req.env);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const modelPath = req.model ?? parsed.modelPath;
  if (!modelPath) {
    return {
      ok: false,
      error: parsed.hfRepo
        ? `The model comes from Hugging Face (-hf ${parsed.hfRepo}), so there is no local file to estimate from. Give the downloaded .gguf with -m, or the need with "needs".`
        : 'No model to estimate from: the arguments name none (-m FILE.gguf).',
    };
  }
  const settings = absolutePaths(parsed.settings, req.cwd);
  const path = at(req.cwd, modelPath);
  const build = req.build ?? null;
  const estimator = await openModelEstimator(
    path,
    { projectorPath: settings.projectorPath, draftPath: settings.draft?.modelPath ?? null },
    buildOptions(build?.ok ? build.build : null),
  );
  const note = buildNote(build);
  return {
    ok: true,
    need: {
      modelPath: path,
      settings,
      given: parsed.given,
      from: req.from,
      notes: note ? [note] : [],
      estimator: isEstimator(estimator) ? estimator : null,
      estimate: isEstimator(estimator) ? estimator.estimate(settings) : estimator,
      readable: isEstimator(estimator) || (await readable(path)),
    },
  };
}

async function resolveOllama(req: ServerNeedRequest): Promise<ModelNeedResult> {
  if (!req.model) return { ok: false, error: 'No model to estimate from: name the Ollama model (for example "llama3.2:3b") or its .gguf file in "model".' };
  let modelPath: string;
  let projectorPath: string | null = null;
  let numCtx: number | null = null;
  if (looksLikeFile(req.model)) modelPath = at(req.cwd, req.model);
  else {
    const found = await findOllamaModel(req.model, req.env);
    if (!found.ok) return { ok: false, error: found.error };
    ({ modelPath, projectorPath, numCtx } = found.files);
  }
  const estimator = await openModelEstimator(modelPath, { projectorPath }, OLLAMA_RUNNER);
  const run = ollamaRun(req.env, { numCtx, projectorPath }, isEstimator(estimator) ? estimator.trainedContext : null, req.totalVramBytes);
  if ('error' in run) return { ok: false, error: `Ollama's environment cannot be read: ${run.error}.` };
  const given = ['OLLAMA_CONTEXT_LENGTH', 'OLLAMA_NUM_PARALLEL', 'OLLAMA_FLASH_ATTENTION', 'OLLAMA_KV_CACHE_TYPE']
    .filter((k) => req.env[k])
    .map((k) => `${k}=${req.env[k]}`);
  return {
    ok: true,
    need: {
      modelPath,
      settings: run.settings,
      given,
      from: `Ollama's settings for ${req.model}`,
      notes: run.notes,
      estimator: isEstimator(estimator) ? estimator : null,
      estimate: isEstimator(estimator) ? estimator.estimate(run.settings) : estimator,
      readable: isEstimator(estimator) || (await readable(modelPath)),
    },
  };
}
