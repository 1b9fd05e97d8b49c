/** llama.cpp's llama-server: `/health` and `/props` (`default_generation_settings.n_ctx`, `model_path`). */
import { getJson, isRecord, str } from '../http.ts';
import { contextFigure, jsonObject, ReplyShapeError } from './reply-shape.ts';
import { notesText, readReport, type ServerAdapter, unhealthy } from './types.ts';
import { optionValue, programNames, type ProcessKind } from '../recognition/process-kind.ts';

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
