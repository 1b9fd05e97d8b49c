/**
 * llama.cpp's llama-server: `/health` and `/props` (`default_generation_settings.n_ctx`,
 * `model_path`); in router mode (started without `-m`) `GET /models` and `POST /models/unload`. Its
 * own arguments are what the gate sizes; `-c` is its context, `-ngl 0` its CPU switch.
 */
import { errorMessage } from '../../errors.ts';
import { parseLlamaServerArgs } from '../../estimate/server-args.ts';
import { getJson, isRecord, postJson, quoteReply, str } from '../http.ts';
import { contextFigure, jsonObject, ReplyShapeError } from '../adapters/reply-shape.ts';
import { notesText, readReport, type ServerAdapter, unhealthy } from '../adapters/types.ts';
import { optionValue, programNames, type ProcessKind } from '../recognition/process-kind.ts';
import type { KindSizing, OutsideServer, OutsideStep, ServerKindEntry, StepPlan } from './kind-entry.ts';

declare module './server-kind.ts' {
  interface ServerKinds {
    'llama-server': true;
  }
}

export const llamaServerAdapter: ServerAdapter = {
  kind: 'llama-server',
  report: (baseUrl, options) =>
    readReport('llama-server', async () => {
      const health = await getJson(`${baseUrl}/health`, options);
      // 200 {"status":"ok"}; 503 {"error":{"code":503,"message":"Loading model",...}} while loading.
      if (health.status !== 200) {
        const message = isRecord(health.json) && isRecord(health.json.error) ? str(health.json.error.message) : null;
        return unhealthy('llama-server', `health answered HTTP ${health.status}${message ? `: ${message}` : ''}`);
      }
      const h = jsonObject(health, 'GET /health', 'llama-server\'s {"status": "ok"}');
      if (h.status !== 'ok') throw new ReplyShapeError(`GET /health answered 200 without "status": "ok" (${JSON.stringify(h).slice(0, 80)})`);
      const props = jsonObject(await getJson(`${baseUrl}/props`, options), 'GET /props', "llama-server's properties");
      const settings = props.default_generation_settings;
      if (!isRecord(settings)) throw new ReplyShapeError('GET /props has no "default_generation_settings" object');
      const notes: string[] = [];
      const nCtx = contextFigure(settings.n_ctx, 'n_ctx', notes);
      const path = props.model_path;
      if (path !== undefined && typeof path !== 'string') throw new ReplyShapeError('GET /props: "model_path" is not a string');
      return {
        kind: 'llama-server',
        reachable: true,
        healthy: true,
        models: path ? [{ name: path, vramBytes: null, contextLength: nCtx }] : [],
        contextLength: nCtx,
        sleeping: null,
        error: notesText(notes),
      };
    }),
};

/** llama-server in /proc: its program name; the model from -m/--model (none: router mode, which loads models on request). */
export const llamaServerProcess: ProcessKind = {
  id: 'llama-server',
  label: 'llama.cpp server',
  serverKind: 'llama-server',
  listens: true,
  recognise: (p) => {
    if (!programNames(p).includes('llama-server')) return null;
    const model = optionValue(p.argv, ['-m', '--model']);
    return {
      role: model === null && optionValue(p.argv, ['-hf', '--hf-repo']) === null ? 'router' : null,
      model: model ?? optionValue(p.argv, ['-hf', '--hf-repo']),
    };
  },
};

/** llama.cpp's other programs (llama-cli, llama-bench, llama-embedding, llama-mtmd-cli ...): named, not served. */
export const llamaCppProcess: ProcessKind = {
  id: 'llama.cpp',
  label: 'llama.cpp program',
  serverKind: null,
  listens: false,
  recognise: (p) => {
    const name = programNames(p).find((n) => /^llama-[a-z0-9-]+$/.test(n));
    return name ? { role: name, model: optionValue(p.argv, ['-m', '--model']) } : null;
  },
};

/**
 * llama-server in router mode (started without `-m`): `GET /models` lists each model with
 * `status.value`, and `POST /models/unload {"model": id}` unloads one. A single-model server has
 * no runtime unload.
 */
async function unloadFromRouter(r: OutsideServer, step: OutsideStep): Promise<StepPlan> {
  const name = step.describe(r);
  if (r.model !== null)
    return {
      ok: false,
      target: name,
      reason: `${name} serves one model (${r.model}) and cannot unload it while running: a restartServer or stopServer step can act on its user unit`,
    };
  if (!r.ports.length) return { ok: false, target: name, reason: `${name} listens on no port VRAM Guard can read` };
  const url = `http://127.0.0.1:${r.ports[0] ?? 0}`;
  let reply: Awaited<ReturnType<typeof getJson>>;
  try {
    reply = await getJson(`${url}/models`, step.http);
  } catch (err) {
    return { ok: false, target: name, reason: `llama-server at ${url} did not answer (${errorMessage(err)})` };
  }
  const data = reply.status === 200 && isRecord(reply.json) && Array.isArray(reply.json.data) ? reply.json.data : null;
  if (!data) return { ok: false, target: name, reason: `llama-server at ${url}: GET /models answered HTTP ${reply.status} without a router's model list` };
  const loaded = data
    .filter((m): m is Record<string, unknown> => isRecord(m) && typeof m.id === 'string' && isRecord(m.status) && m.status.value === 'loaded')
    .map((m) => m.id as string)
    .filter((id) => !step.model || id === step.model);
  if (!loaded.length) return { ok: false, target: name, reason: `llama-server at ${url} has ${step.model ? `no ${step.model}` : 'no model'} loaded` };
  return {
    ok: true,
    target: `llama-server at ${url}`,
    description: `unload ${loaded.join(', ')} from llama-server (router) at ${url}, started outside VRAM Guard`,
    run: async () => {
      for (const id of loaded) {
        const r = await postJson(`${url}/models/unload`, { model: id }, { fetch: step.fetch, timeoutMs: 30_000 });
        if (r.status !== 200) throw new Error(`llama-server refused to unload ${id}: HTTP ${r.status} ${quoteReply(r.text)}`);
      }
      return `unloaded ${loaded.join(', ')}`;
    },
  };
}

/** A GGUF file under llama.cpp: how llama-server is sized, and any kind that names a model file but has no sizing of its own. */
export const llamaCppSizing: KindSizing = {
  flavour: 'llama-server',
  readsArgs: true,
  from: null,
  namesModel: (args, envs) => args.some((a) => /^(-m|--model)(=|$)/.test(a)) || envs.some((env) => Boolean(env.LLAMA_ARG_MODEL)),
  checkArgs: (args, env) => {
    const parsed = parseLlamaServerArgs(args, env);
    return parsed.ok ? { ok: true, namesModel: parsed.modelPath !== null } : { ok: false, error: parsed.error };
  },
};

export const llamaServerKind: ServerKindEntry = {
  id: 'llama-server',
  label: 'llama.cpp server',
  family: null,
  defaults: { command: ['llama-server'], port: 8080, healthPath: '/health', contextArg: '-c', cpuArgs: ['-ngl', '0'], cpuEnv: {} },
  adapter: llamaServerAdapter,
  processes: [llamaServerProcess, llamaCppProcess],
  fallback: {
    outsideAdvice: { reduceContext: 'start it with a smaller -c (--ctx-size)', moveToCpu: 'start it with -ngl 0 (--n-gpu-layers 0)' },
    unloadOutside: { from: "llama-server's router", attempts: (found, step) => found.map((r) => () => unloadFromRouter(r, step)) },
  },
  sizing: llamaCppSizing,
  spike: { request: (l) => ({ path: '/completion', json: { prompt: l.prompt, n_predict: 128 } }), needsModel: null },
};
