/** vLLM: `/health`, `/v1/models` (`max_model_len`), and sleep mode (`/sleep?level=N`, `/wake_up`, `/is_sleeping`). */
import { getJson, isRecord, postJson, type HttpOptions } from '../http.ts';
import { contextFigure, jsonObject, listField, nameField, ReplyShapeError } from './reply-shape.ts';
import { notesText, readReport, type ServerAdapter, unhealthy } from './types.ts';
import { isPython, optionValue, programNames, pythonTarget, type ProcessKind } from '../recognition/process-kind.ts';

export const vllmAdapter: ServerAdapter = {
  kind: 'vllm',
  report: (baseUrl, options) =>
    readReport('vllm', async () => {
      // /health: an empty 200, or 503 when the engine died.
      const health = await getJson(`${baseUrl}/health`, options);
      if (health.status !== 200) return unhealthy('vllm', `health answered HTTP ${health.status}`);
      const models = await getJson(`${baseUrl}/v1/models`, options);
      const data = listField(jsonObject(models, 'GET /v1/models', 'vLLM\'s {"object": "list", "data": […]}'), 'data', 'GET /v1/models');
      const notes: string[] = [];
      const list = data.map((m, i) => {
        if (!isRecord(m)) throw new ReplyShapeError(`GET /v1/models: data[${i}] is not an object`);
        const name = nameField(m.id, `GET /v1/models: data[${i}].id`);
        return { name, vramBytes: null, contextLength: contextFigure(m.max_model_len, `${name} max_model_len`, notes) };
      });
      // Sleep mode is optional (--enable-sleep-mode): no answer or another shape is "not known".
      const sleep = await getJson(`${baseUrl}/is_sleeping`, options).catch(() => null);
      const sleeping = sleep && sleep.status === 200 && isRecord(sleep.json) && typeof sleep.json.is_sleeping === 'boolean' ? sleep.json.is_sleeping : null;
      return { kind: 'vllm', reachable: true, healthy: true, models: list, contextLength: list[0]?.contextLength ?? null, sleeping, error: notesText(notes) };
    }),
};

export async function vllmSleep(baseUrl: string, level: 1 | 2, options?: HttpOptions): Promise<void> {
  const r = await postJson(`${baseUrl}/sleep?level=${level}`, undefined, { ...options, timeoutMs: options?.timeoutMs ?? 60_000 });
  if (r.status === 404)
    throw new Error('vLLM has no /sleep endpoint: start it with --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1 to allow unloading by sleep.');
  if (r.status !== 200) throw new Error(`vLLM refused to sleep: HTTP ${r.status} ${r.text.slice(0, 200)}`);
}

export async function vllmWakeUp(baseUrl: string, options?: HttpOptions): Promise<void> {
  const r = await postJson(`${baseUrl}/wake_up`, undefined, options);
  if (r.status !== 200) throw new Error(`vLLM refused to wake up: HTTP ${r.status} ${r.text.slice(0, 200)}`);
}

/**
 * vLLM in /proc: `vllm serve MODEL`, `python -m vllm.entrypoints.openai.api_server --model MODEL`,
 * and its engine processes, which rename themselves (`VLLM::EngineCore`, `VLLM::Worker`).
 */
export const vllmProcess: ProcessKind = {
  id: 'vllm',
  label: 'vLLM',
  serverKind: 'vllm',
  listens: true,
  recognise: (p) => {
    const names = programNames(p);
    const engine = names.find((n) => n.startsWith('VLLM::') || /^VLLM/.test(n));
    if (engine) return { role: engine.replace(/^VLLM::/, '') || 'engine', model: null };
    const py = pythonTarget(p);
    const viaVllm = names.includes('vllm') || (py !== null && /(^|[/.])vllm([/.]|$)/.test(py.target));
    if (!viaVllm) return null;
    const serveAt = p.argv.indexOf('serve');
    const positional = serveAt > 0 ? p.argv[serveAt + 1] : undefined;
    const model = positional && !positional.startsWith('-') ? positional : optionValue(p.argv, ['--model']);
    return { role: isPython(p) || serveAt > 0 ? null : (p.argv[1] ?? null), model };
  },
};
