/**
 * An Ollama model as llama-server will run it: its GGUF blob (and projector) found through Ollama's
 * store on disk (`$OLLAMA_MODELS` or ~/.ollama/models: manifests/<host>/<namespace>/<model>/<tag>
 * → blobs/sha256-<hex>), and the settings Ollama passes to the runner, from its environment:
 *
 * - context: the model's own `num_ctx` (its params layer), else `OLLAMA_CONTEXT_LENGTH`, else by the
 *   GPUs' total memory (less `OLLAMA_GPU_OVERHEAD`): 262144 from 47 GiB, 32768 from 23 GiB, else
 *   4096; never above the model's training context;
 * - `-c num_ctx × OLLAMA_NUM_PARALLEL -np OLLAMA_NUM_PARALLEL` (default 1 slot);
 * - `--flash-attn` on/off when `OLLAMA_FLASH_ATTENTION` is set, else auto;
 * - `--cache-type-k/-v OLLAMA_KV_CACHE_TYPE` when set.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GiB, MiB } from '../units.ts';
import { openRegularFile } from '../regular-file.ts';
import { DEFAULT_LLAMA_SETTINGS, KV_CACHE_TYPES, type KvCacheType, type LlamaSettings } from './llama-settings.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** A manifest or params file larger than this is not Ollama's. */
const MAX_MANIFEST_BYTES = MiB;

export const OLLAMA_MODEL_MEDIA = 'application/vnd.ollama.image.model';
export const OLLAMA_PROJECTOR_MEDIA = 'application/vnd.ollama.image.projector';
export const OLLAMA_PARAMS_MEDIA = 'application/vnd.ollama.image.params';

export function ollamaModelsDir(env: Env = process.env, home: string = homedir()): string {
  return env.OLLAMA_MODELS || join(home, '.ollama', 'models');
}

/** "llama3.2:3b" → registry.ollama.ai/library/llama3.2/3b; "hf.co/user/repo:Q4_K_M" keeps its host. */
export function ollamaManifestPath(name: string, modelsDir: string): string | null {
  let rest = name.trim();
  let tag = 'latest';
  if (rest.lastIndexOf(':') > rest.lastIndexOf('/')) {
    tag = rest.slice(rest.lastIndexOf(':') + 1);
    rest = rest.slice(0, rest.lastIndexOf(':'));
  }
  const parts = rest.split('/');
  if (parts.length > 3 || parts.some((p) => !p || p === '.' || p === '..') || !/^[\w.-]+$/.test(tag)) return null;
  const [host, namespace, model] =
    parts.length === 3 ? parts : parts.length === 2 ? ['registry.ollama.ai', ...parts] : ['registry.ollama.ai', 'library', ...parts];
  if (!host || !namespace || !model) return null;
  return join(modelsDir, 'manifests', host, namespace, model, tag);
}

async function readBounded(path: string): Promise<string> {
  // Only a regular file: a FIFO in the store would keep the read waiting for a writer forever.
  const fh = await openRegularFile(path);
  try {
    const size = (await fh.stat()).size;
    if (size > MAX_MANIFEST_BYTES) throw new Error(`it is ${size} bytes, more than an Ollama manifest holds`);
    const buf = Buffer.alloc(size);
    await fh.read(buf, 0, size, 0);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

export interface OllamaModelFiles {
  modelPath: string;
  projectorPath: string | null;
  /** `num_ctx` from the model's params layer, when it sets one. */
  numCtx: number | null;
}

const blobPath = (modelsDir: string, digest: string) => join(modelsDir, 'blobs', digest.replace(':', '-'));

/** Finds the GGUF blob of an Ollama model in the store on disk. */
export async function findOllamaModel(
  name: string,
  env: Env = process.env,
  home: string = homedir(),
): Promise<{ ok: true; files: OllamaModelFiles } | { ok: false; error: string }> {
  const dir = ollamaModelsDir(env, home);
  const manifestPath = ollamaManifestPath(name, dir);
  if (!manifestPath) return { ok: false, error: `"${name}" is not an Ollama model name (write it like "llama3.2:3b" or "hf.co/user/repo:Q4_K_M").` };
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readBounded(manifestPath));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT')
      return {
        ok: false,
        error: `Ollama's store has no model "${name}" (no ${manifestPath}). Pull it first (ollama pull ${name}), or set OLLAMA_MODELS to the store the server uses.`,
      };
    return { ok: false, error: `Ollama's manifest for "${name}" (${manifestPath}) cannot be read: ${e.message}.` };
  }
  const layers = (manifest as { layers?: unknown })?.layers;
  if (!Array.isArray(layers)) return { ok: false, error: `Ollama's manifest for "${name}" (${manifestPath}) has no list of layers.` };
  const digestOf = (media: string): string | null => {
    const layer = layers.find((l) => l && typeof l === 'object' && (l as { mediaType?: unknown }).mediaType === media) as { digest?: unknown } | undefined;
    const d = layer?.digest;
    return typeof d === 'string' && /^sha256[:-][0-9a-f]{64}$/i.test(d) ? d : null;
  };
  const model = digestOf(OLLAMA_MODEL_MEDIA);
  if (!model) return { ok: false, error: `Ollama's manifest for "${name}" (${manifestPath}) names no GGUF model layer (${OLLAMA_MODEL_MEDIA}).` };
  const projector = digestOf(OLLAMA_PROJECTOR_MEDIA);
  let numCtx: number | null = null;
  const params = digestOf(OLLAMA_PARAMS_MEDIA);
  if (params) {
    try {
      const p = JSON.parse(await readBounded(blobPath(dir, params))) as Record<string, unknown>;
      if (Number.isInteger(p.num_ctx) && (p.num_ctx as number) > 0) numCtx = p.num_ctx as number;
    } catch {
      // A params layer that cannot be read leaves the context to the environment.
    }
  }
  return { ok: true, files: { modelPath: blobPath(dir, model), projectorPath: projector ? blobPath(dir, projector) : null, numCtx } };
}

/** Go's strconv.ParseBool, which Ollama's envconfig uses. */
function goBool(text: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return null;
}

function uint(env: Env, name: string): number | null | { error: string } {
  const v = env[name]?.trim();
  if (!v) return null;
  if (!/^\d+$/.test(v)) return { error: `${name} must be a whole number, not "${v}"` };
  return Number(v);
}

/** Ollama's default context for the GPUs' total memory (server/routes.go). */
export function ollamaDefaultContext(totalVramBytes: number): number {
  if (totalVramBytes >= 47 * GiB) return 262144;
  if (totalVramBytes >= 23 * GiB) return 32768;
  return 4096;
}

/**
 * How Ollama's runner reserves the compute graph: it creates its llama.cpp context without
 * `n_outputs_max`, so llama.cpp reserves logits for every token of the micro-batch
 * (llama-context.cpp: `n_outputs_max = n_batch` when not given, `n_outputs = min(n_ubatch,
 * n_outputs_max)`), where llama-server reserves one row per slot.
 */
export const OLLAMA_RUNNER = { outputRows: 'ubatch' } as const;

export interface OllamaRun {
  settings: LlamaSettings;
  /** Per-sequence context and slots as Ollama chose them. */
  numCtx: number;
  numParallel: number;
  notes: string[];
}

/**
 * The settings Ollama gives llama-server for a model. `totalVramBytes`: the GPU's total memory
 * (null: unknown, the smallest tier is assumed and said).
 */
export function ollamaRun(
  env: Env,
  files: Pick<OllamaModelFiles, 'numCtx' | 'projectorPath'>,
  trainedContext: number | null,
  totalVramBytes: number | null,
): OllamaRun | { error: string } {
  const notes: string[] = [];
  const ctxEnv = uint(env, 'OLLAMA_CONTEXT_LENGTH');
  if (ctxEnv && typeof ctxEnv === 'object') return ctxEnv;
  const parallelEnv = uint(env, 'OLLAMA_NUM_PARALLEL');
  if (parallelEnv && typeof parallelEnv === 'object') return parallelEnv;
  const overhead = uint(env, 'OLLAMA_GPU_OVERHEAD');
  if (overhead && typeof overhead === 'object') return overhead;
  let numCtx: number;
  if (files.numCtx !== null) {
    numCtx = files.numCtx;
    notes.push(`context ${numCtx}: the model's num_ctx parameter`);
  } else if (ctxEnv) {
    numCtx = ctxEnv;
    notes.push(`context ${numCtx}: OLLAMA_CONTEXT_LENGTH`);
  } else {
    const total = totalVramBytes === null ? null : Math.max(0, totalVramBytes - (overhead ?? 0));
    numCtx = ollamaDefaultContext(total ?? 0);
    notes.push(
      `context ${numCtx}: Ollama's default for ${total === null ? 'a GPU of unknown size' : `${Math.round(total / GiB)} GiB of VRAM`} (set OLLAMA_CONTEXT_LENGTH to choose)`,
    );
  }
  if (trainedContext !== null && numCtx > trainedContext) {
    notes.push(`capped at the model's training context, ${trainedContext} tokens`);
    numCtx = trainedContext;
  }
  const numParallel = parallelEnv && parallelEnv > 0 ? parallelEnv : 1;
  if (numParallel > 1) notes.push(`${numParallel} slots: OLLAMA_NUM_PARALLEL`);
  const faText = env.OLLAMA_FLASH_ATTENTION?.trim();
  let flashAttention: LlamaSettings['flashAttention'] = 'auto';
  if (faText) {
    const b = goBool(faText);
    if (b === null) return { error: `OLLAMA_FLASH_ATTENTION must be true or false, not "${faText}"` };
    flashAttention = b ? 'on' : 'off';
  }
  let cacheType: KvCacheType | null = null;
  const kv = env.OLLAMA_KV_CACHE_TYPE?.trim().toLowerCase();
  if (kv) {
    if (!(KV_CACHE_TYPES as readonly string[]).includes(kv)) return { error: `OLLAMA_KV_CACHE_TYPE must be one of ${KV_CACHE_TYPES.join(', ')}, not "${kv}"` };
    cacheType = kv as KvCacheType;
  }
  return {
    numCtx,
    numParallel,
    notes,
    settings: {
      ...DEFAULT_LLAMA_SETTINGS,
      contextTokens: numCtx * numParallel,
      parallel: numParallel,
      kvUnified: false,
      flashAttention,
      cacheTypeK: cacheType,
      cacheTypeV: cacheType,
      projectorPath: files.projectorPath,
    },
  };
}
