/**
 * Ollama: `/api/ps` (loaded models with `size_vram` and `context_length`), unloading with
 * `keep_alive: 0`, and reloading a model with a smaller `num_ctx`.
 */
import { getJson, isRecord, postJson, type HttpOptions, type HttpReply } from '../http.ts';
import { contextFigure, jsonObject, listField, nameField, ReplyShapeError, vramFigure } from './reply-shape.ts';
import { notesText, readReport, type ModelReport, type ServerAdapter, type ServerReport, unhealthy } from './types.ts';
import { ollamaBlobName } from '../recognition/ollama-blob-name.ts';
import { optionValue, programNames, type ProcessKind } from '../recognition/process-kind.ts';

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
  modelName: ollamaBlobName,
};
