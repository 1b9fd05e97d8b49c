/**
 * vLLM: `/health`, `/v1/models` (`max_model_len`), and sleep mode (`/sleep?level=N`, `/wake_up`,
 * `/is_sleeping`), which is how a model is unloaded from it while it runs; `--max-model-len` is its
 * context.
 */
import { errorMessage } from '../../errors.ts';
import { getJson, isRecord, postJson, type HttpOptions } from '../http.ts';
import { contextFigure, jsonObject, listField, nameField, ReplyShapeError } from '../adapters/reply-shape.ts';
import { notesText, readReport, type ServerAdapter, unhealthy } from '../adapters/types.ts';
import { isPython, optionValue, programNames, pythonTarget, type ProcessKind } from '../recognition/process-kind.ts';
import type { OutsideServer, OutsideStep, ServerKindEntry, StepPlan, TaskStep } from './kind-entry.ts';

declare module './server-kind.ts' {
  interface ServerKinds {
    vllm: true;
  }
}

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

/** A task's vLLM sleeps at its task's level, which needs --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1. */
async function unloadModel({ name, base, http, fallback }: TaskStep): Promise<StepPlan> {
  const level = fallback.sleepLevel;
  if (!level)
    return {
      ok: false,
      target: name,
      reason: `"${name}" (vLLM) has no sleep mode enabled: set "fallback.sleepLevel" and start it with --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1`,
    };
  return {
    ok: true,
    target: name,
    description: `put "${name}" to sleep (level ${level})`,
    run: async () => {
      await vllmSleep(base, level, http);
      return `asleep (level ${level})`;
    },
  };
}

/** vLLM's `/sleep`, which it serves only with `VLLM_SERVER_DEV_MODE=1` and `--enable-sleep-mode`; `GET /is_sleeping` says whether it does. */
async function sleepOutside(r: OutsideServer, step: OutsideStep): Promise<StepPlan> {
  const name = step.describe(r);
  if (!r.ports.length) return { ok: false, target: name, reason: `${name} listens on no port VRAM Guard can read` };
  const url = `http://127.0.0.1:${r.ports[0] ?? 0}`;
  let reply: Awaited<ReturnType<typeof getJson>>;
  try {
    reply = await getJson(`${url}/is_sleeping`, step.http);
  } catch (err) {
    return { ok: false, target: name, reason: `vLLM at ${url} did not answer (${errorMessage(err)})` };
  }
  if (reply.status === 404)
    return { ok: false, target: name, reason: `vLLM at ${url} has no sleep mode: it needs VLLM_SERVER_DEV_MODE=1 and --enable-sleep-mode` };
  if (reply.status !== 200 || !isRecord(reply.json) || typeof reply.json.is_sleeping !== 'boolean')
    return { ok: false, target: name, reason: `vLLM at ${url}: GET /is_sleeping answered HTTP ${reply.status} without {"is_sleeping": …}` };
  if (reply.json.is_sleeping) return { ok: false, target: name, reason: `vLLM at ${url} is already asleep` };
  return {
    ok: true,
    target: `vLLM at ${url}`,
    description: `put vLLM at ${url} to sleep (level 1: weights to the CPU, KV cache dropped), started outside VRAM Guard`,
    run: async () => {
      await vllmSleep(url, 1, { fetch: step.fetch });
      return 'asleep (level 1)';
    },
  };
}

/** vLLM serves one model: its OpenAI-compatible API expects that model's id. */
async function askModel(base: string, fetchFn: typeof fetch, signal: AbortSignal): Promise<string> {
  const res = await fetchFn(`${base}/v1/models`, { signal });
  const body: unknown = await res.json().catch(() => null);
  const data = body && typeof body === 'object' && Array.isArray((body as { data?: unknown }).data) ? (body as { data: Array<{ id?: unknown }> }).data : [];
  const id = typeof data[0]?.id === 'string' ? data[0].id : null;
  if (!id) throw new Error(`GET ${base}/v1/models named no model (HTTP ${res.status})`);
  return id;
}

export const vllmKind: ServerKindEntry = {
  id: 'vllm',
  label: 'vLLM',
  family: null,
  defaults: { command: ['vllm', 'serve'], port: 8000, healthPath: '/health', contextArg: '--max-model-len', cpuArgs: [], cpuEnv: {} },
  adapter: vllmAdapter,
  processes: [vllmProcess],
  fallback: {
    outsideAdvice: { reduceContext: 'start it with a smaller --max-model-len (or a lower --gpu-memory-utilization)' },
    unloadModel,
    unloadOutside: { from: 'vLLM', attempts: (found, step) => found.map((r) => () => sleepOutside(r, step)) },
  },
  sizing: null,
  spike: {
    request: (l) => ({ path: '/v1/completions', json: { model: l.model, prompt: l.prompt, max_tokens: 64 } }),
    needsModel: null,
    askModel,
  },
};
