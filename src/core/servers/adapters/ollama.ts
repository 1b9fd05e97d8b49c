/**
 * Ollama: `/api/ps` (loaded models with `size_vram` and `context_length`), unloading with
 * `keep_alive: 0`, and reloading a model with a smaller `num_ctx`.
 */
import { getJson, isRecord, num, postJson, str, type HttpOptions } from '../http.ts';
import { unreachable, type ModelReport, type ServerAdapter, type ServerReport } from './types.ts';

export async function ollamaPs(baseUrl: string, options?: HttpOptions): Promise<ModelReport[]> {
  const r = await getJson(`${baseUrl}/api/ps`, options);
  if (r.status !== 200 || !isRecord(r.json) || !Array.isArray(r.json['models'])) throw new Error(`GET ${baseUrl}/api/ps answered HTTP ${r.status} without a model list`);
  return r.json['models'].filter(isRecord).map((m) => ({
    name: str(m['name']) ?? str(m['model']) ?? '?',
    vramBytes: num(m['size_vram']),
    contextLength: num(m['context_length']),
  }));
}

export const ollamaAdapter: ServerAdapter = {
  kind: 'ollama',
  async report(baseUrl, options): Promise<ServerReport> {
    try {
      const models = await ollamaPs(baseUrl, options);
      return { kind: 'ollama', reachable: true, healthy: true, models, contextLength: null, sleeping: null, error: null };
    } catch (err) {
      return unreachable('ollama', err);
    }
  },
};

/** Unloads one model, or every loaded one (model null). Returns the names unloaded. */
export async function ollamaUnload(baseUrl: string, model: string | null, options?: HttpOptions): Promise<string[]> {
  const names = model ? [model] : (await ollamaPs(baseUrl, options)).map((m) => m.name);
  for (const name of names) {
    // Ollama waits for the runner to go (up to about 5 s) before it answers.
    const r = await postJson(`${baseUrl}/api/generate`, { model: name, keep_alive: 0 }, { ...options, timeoutMs: options?.timeoutMs ?? 15_000 });
    if (r.status !== 200) throw new Error(`Ollama refused to unload ${name}: HTTP ${r.status} ${isRecord(r.json) ? String(r.json['error'] ?? '') : r.text}`);
  }
  return names;
}

/** Reloads a model with a smaller context (`options.num_ctx`); the scheduler replaces the runner. */
export async function ollamaReloadWithContext(baseUrl: string, model: string, numCtx: number, options?: HttpOptions): Promise<void> {
  const r = await postJson(`${baseUrl}/api/generate`, { model, prompt: '', stream: false, options: { num_ctx: numCtx } }, { ...options, timeoutMs: options?.timeoutMs ?? 120_000 });
  if (r.status !== 200) throw new Error(`Ollama could not reload ${model} with num_ctx ${numCtx}: HTTP ${r.status} ${isRecord(r.json) ? String(r.json['error'] ?? '') : r.text}`);
}
