/**
 * Ollama: `/api/ps` (loaded models with `size_vram` and `context_length`), unloading with
 * `keep_alive: 0` (from a task's server, or from one started outside VRAM Guard at its port or the
 * user's URL), and reloading a model with a smaller `num_ctx`. It is sized from its store and
 * OLLAMA_* environment.
 */
import { errorMessage } from '../../errors.ts';
import { getJson, isRecord, postJson, type HttpOptions, type HttpReply } from '../http.ts';
import { contextFigure, jsonObject, listField, nameField, ReplyShapeError, vramFigure } from '../adapters/reply-shape.ts';
import { notesText, readReport, type ModelReport, type ServerAdapter, type ServerReport, unhealthy } from '../adapters/types.ts';
import { ollamaBlobName } from '../recognition/ollama-blob-name.ts';
import { optionValue, programNames, type ProcessKind } from '../recognition/process-kind.ts';
import type { OutsideServer, OutsideStep, ServerKindEntry, StepPlan, TaskStep } from './kind-entry.ts';

declare module './server-kind.ts' {
  interface ServerKinds {
    ollama: true;
  }
}

/** The loaded models; a reply in another shape is a ReplyShapeError, an absurd figure is dropped into `notes`. */
export async function ollamaPs(baseUrl: string, options?: HttpOptions, notes: string[] = []): Promise<ModelReport[]> {
  const r = await getJson(`${baseUrl}/api/ps`, options);
  if (r.status !== 200) throw new Error(`GET ${baseUrl}/api/ps answered HTTP ${r.status} without a model list`);
  return psModels(r, notes);
}

function psModels(r: HttpReply, notes: string[]): ModelReport[] {
  const models = listField(jsonObject(r, 'GET /api/ps', 'Ollama\'s {"models": […]}'), 'models', 'GET /api/ps');
  return models.map((m, i) => {
    if (!isRecord(m)) throw new ReplyShapeError(`GET /api/ps: models[${i}] is not an object`);
    const name = nameField(m.name ?? m.model, `GET /api/ps: models[${i}].name`);
    return {
      name,
      vramBytes: vramFigure(m.size_vram, `${name} size_vram`, notes),
      contextLength: contextFigure(m.context_length, `${name} context_length`, notes),
    };
  });
}

export const ollamaAdapter: ServerAdapter = {
  kind: 'ollama',
  report: (baseUrl, options) =>
    readReport('ollama', async (): Promise<ServerReport> => {
      const r = await getJson(`${baseUrl}/api/ps`, options);
      if (r.status !== 200) return unhealthy('ollama', `GET /api/ps answered HTTP ${r.status}`);
      const notes: string[] = [];
      const models = psModels(r, notes);
      return { kind: 'ollama', reachable: true, healthy: true, models, contextLength: null, sleeping: null, error: notesText(notes) };
    }),
};

/** Unloads one model, or every loaded one (model null). Returns the names unloaded. */
export async function ollamaUnload(baseUrl: string, model: string | null, options?: HttpOptions): Promise<string[]> {
  const names = model ? [model] : (await ollamaPs(baseUrl, options)).map((m) => m.name);
  for (const name of names) {
    // Ollama waits for the runner to go (up to about 5 s) before it answers.
    const r = await postJson(`${baseUrl}/api/generate`, { model: name, keep_alive: 0 }, { ...options, timeoutMs: options?.timeoutMs ?? 15_000 });
    if (r.status !== 200)
      throw new Error(`Ollama refused to unload ${name}: HTTP ${r.status} ${isRecord(r.json) ? String(r.json.error ?? '') : r.text.slice(0, 200)}`);
  }
  return names;
}

/** Reloads a model with a smaller context (`options.num_ctx`); the scheduler replaces the runner. */
export async function ollamaReloadWithContext(baseUrl: string, model: string, numCtx: number, options?: HttpOptions): Promise<void> {
  const r = await postJson(
    `${baseUrl}/api/generate`,
    { model, prompt: '', stream: false, options: { num_ctx: numCtx } },
    { ...options, timeoutMs: options?.timeoutMs ?? 120_000 },
  );
  if (r.status !== 200)
    throw new Error(
      `Ollama could not reload ${model} with num_ctx ${numCtx}: HTTP ${r.status} ${isRecord(r.json) ? String(r.json.error ?? '') : r.text.slice(0, 200)}`,
    );
}

/**
 * Ollama in /proc: `ollama serve`, and the runner children it starts for each model (`ollama runner
 * --model BLOB --port N`; older releases: `ollama_llama_server`). A runner's model is a blob path:
 * its name comes from the manifests beside it.
 */
export const ollamaProcess: ProcessKind = {
  id: 'ollama',
  label: 'Ollama',
  serverKind: 'ollama',
  listens: true,
  recognise: (p) => {
    const names = programNames(p);
    if (names.includes('ollama_llama_server')) return { role: 'runner', model: optionValue(p.argv, ['--model']) };
    if (!names.includes('ollama')) return null;
    const sub = p.argv[1] ?? null;
    if (sub === 'runner') return { role: 'runner', model: optionValue(p.argv, ['--model']) };
    return { role: sub === 'serve' ? 'serve' : sub, model: null };
  },
  apiInParent: { role: 'runner', parentRole: 'serve' },
  modelName: ollamaBlobName,
};

/** Ollama context sizes to step through when a task does not list its own. */
export const DEFAULT_OLLAMA_CONTEXTS = [8192, 4096, 2048, 1024];

/** Where Ollama listens unless OLLAMA_HOST says otherwise. */
export const OLLAMA_DEFAULT_URL = 'http://127.0.0.1:11434';

/** A task's Ollama reloads its first model above the next smaller context with that `num_ctx`. */
async function reduceContext({ name, base, http, model, fallback }: TaskStep): Promise<StepPlan> {
  const loaded = await ollamaPs(base, http).catch(() => []);
  const sizes = fallback.contextSizes.length ? fallback.contextSizes : DEFAULT_OLLAMA_CONTEXTS;
  for (const m of loaded) {
    if (model && m.name !== model) continue;
    const current = m.contextLength;
    const next = current === null ? null : sizes.find((n) => n < current);
    if (next === undefined || next === null) continue;
    return {
      ok: true,
      target: name,
      description: `reload ${m.name} on "${name}" with num_ctx ${next} (now ${current})`,
      run: async () => {
        await ollamaReloadWithContext(base, m.name, next, http);
        return `${m.name} reloaded with num_ctx ${next}`;
      },
    };
  }
  return { ok: false, target: name, reason: `"${name}": no loaded model above the smallest context (${sizes.at(-1)})` };
}

async function unloadModel({ name, base, http, model: stepModel, fallback }: TaskStep): Promise<StepPlan> {
  const model = stepModel ?? fallback.model;
  const loaded = (await ollamaPs(base, http).catch(() => [])).filter((m) => !model || m.name === model);
  if (!loaded.length) return { ok: false, target: name, reason: `"${name}" has ${model ? `no ${model}` : 'no model'} loaded` };
  return {
    ok: true,
    target: name,
    description: `unload ${loaded.map((m) => m.name).join(', ')} from "${name}" (keep_alive 0)`,
    run: async () => `unloaded ${(await ollamaUnload(base, model, http)).join(', ') || 'nothing'}`,
  };
}

/**
 * Ollama's URLs: each `ollama serve` port on loopback, then the user's setting, else Ollama's
 * default address; the first with a model loaded is used.
 */
async function unloadOutside(found: OutsideServer[], step: OutsideStep): Promise<StepPlan> {
  const urls = new Set<string>();
  for (const r of found) if (r.role !== 'runner') for (const p of r.ports) urls.add(`http://127.0.0.1:${p}`);
  for (const u of step.ollamaUrls()) urls.add(u.replace(/\/+$/, ''));
  const unit = found.find((r) => r.unit)?.unit;
  const where = unit ? ` (${unit.name}${unit.scope === 'user' ? ', a user unit' : ', a system unit'})` : '';
  // Another user's `ollama serve` (a system service) hides its sockets: Ollama's own default address, then.
  if (!urls.size) urls.add(OLLAMA_DEFAULT_URL);
  const reasons: string[] = [];
  for (const url of urls) {
    let loaded: Awaited<ReturnType<typeof ollamaPs>>;
    try {
      loaded = await ollamaPs(url, step.http);
    } catch (err) {
      reasons.push(
        `Ollama at ${url} did not answer (${errorMessage(err)}): nothing unloaded there${url === OLLAMA_DEFAULT_URL ? ' (its port could not be read: set vramGuard.servers.ollamaUrl in your user settings)' : ''}`,
      );
      continue;
    }
    const models = loaded.map((m) => m.name).filter((m) => !step.model || m === step.model);
    if (!models.length) {
      reasons.push(`Ollama at ${url} has ${step.model ? `no ${step.model}` : 'no model'} loaded`);
      continue;
    }
    const target = `Ollama at ${url}`;
    return {
      ok: true,
      target,
      description: `unload ${models.join(', ')} from ${target}${where}, started outside VRAM Guard (keep_alive 0)`,
      run: async () => {
        const done: string[] = [];
        for (const m of models) done.push(...(await ollamaUnload(url, m, { fetch: step.fetch })));
        return `unloaded ${done.join(', ')}`;
      },
    };
  }
  return { ok: false, target: 'ollama', reason: reasons.join('; ') };
}

export const ollamaKind: ServerKindEntry = {
  id: 'ollama',
  label: 'Ollama',
  family: null,
  defaults: { command: ['ollama', 'serve'], port: 11434, healthPath: '/', contextArg: null, cpuArgs: [], cpuEnv: {} },
  adapter: ollamaAdapter,
  processes: [ollamaProcess],
  // Ollama listens where OLLAMA_HOST says: keep it in step with the port.
  taskEnv: (port, env) => {
    if (env.OLLAMA_HOST === undefined) env.OLLAMA_HOST = `127.0.0.1:${port}`;
  },
  fallback: {
    outsideAdvice: {
      reduceContext: 'set OLLAMA_CONTEXT_LENGTH lower in its environment (or have its clients ask for a smaller "num_ctx")',
      moveToCpu: 'set CUDA_VISIBLE_DEVICES=-1 in its environment (or have its clients ask for "num_gpu": 0)',
    },
    reduceContext,
    unloadModel,
    // Its runners hold the GPU; one attempt for them all, at their `ollama serve`.
    unloadOutside: { from: 'Ollama', attempts: (found, step) => (found.length ? [() => unloadOutside(found, step)] : []) },
  },
  sizing: {
    flavour: 'ollama',
    readsArgs: false,
    from: "Ollama's environment",
    settings: { summary: 'OLLAMA_* variables', list: 'OLLAMA_CONTEXT_LENGTH, OLLAMA_NUM_PARALLEL, OLLAMA_KV_CACHE_TYPE, OLLAMA_FLASH_ATTENTION' },
  },
  spike: {
    request: (l) => ({ path: '/api/generate', json: { model: l.model, prompt: l.prompt, stream: false, options: { num_predict: 64 } } }),
    needsModel: {
      ask: 'say which model the load request uses, with "load": { "model": "llama3.2:3b" } (or the task\'s "fallback.model").',
      example: 'llama3.2:3b',
    },
  },
};
