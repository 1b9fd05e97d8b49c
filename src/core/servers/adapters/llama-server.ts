/** llama.cpp's llama-server: `/health` and `/props` (`default_generation_settings.n_ctx`, `model_path`). */
import { getJson, isRecord, num, str } from '../http.ts';
import { unreachable, type ServerAdapter } from './types.ts';

export const llamaServerAdapter: ServerAdapter = {
  kind: 'llama-server',
  async report(baseUrl, options) {
    try {
      const health = await getJson(`${baseUrl}/health`, options);
      if (health.status !== 200) return { kind: 'llama-server', reachable: true, healthy: false, models: [], contextLength: null, sleeping: null, error: `health answered HTTP ${health.status}` };
      const props = await getJson(`${baseUrl}/props`, options);
      const p = isRecord(props.json) ? props.json : {};
      const settings = isRecord(p['default_generation_settings']) ? p['default_generation_settings'] : {};
      const nCtx = num(settings['n_ctx']);
      const path = str(p['model_path']);
      return {
        kind: 'llama-server',
        reachable: true,
        healthy: true,
        models: path ? [{ name: path, vramBytes: null, contextLength: nCtx }] : [],
        contextLength: nCtx,
        sleeping: null,
        error: null,
      };
    } catch (err) {
      return unreachable('llama-server', err);
    }
  },
};
