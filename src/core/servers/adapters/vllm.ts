/** vLLM: `/health`, `/v1/models` (`max_model_len`), and sleep mode (`/sleep?level=N`, `/wake_up`, `/is_sleeping`). */
import { getJson, isRecord, num, postJson, str, type HttpOptions } from '../http.ts';
import { unreachable, type ServerAdapter } from './types.ts';

export const vllmAdapter: ServerAdapter = {
  kind: 'vllm',
  async report(baseUrl, options) {
    try {
      const health = await getJson(`${baseUrl}/health`, options);
      const models = await getJson(`${baseUrl}/v1/models`, options);
      const data = isRecord(models.json) && Array.isArray(models.json['data']) ? models.json['data'].filter(isRecord) : [];
      const list = data.map((m) => ({ name: str(m['id']) ?? '?', vramBytes: null, contextLength: num(m['max_model_len']) }));
      const sleep = await getJson(`${baseUrl}/is_sleeping`, options).catch(() => null);
      const sleeping = sleep && sleep.status === 200 && isRecord(sleep.json) && typeof sleep.json['is_sleeping'] === 'boolean' ? sleep.json['is_sleeping'] : null;
      return { kind: 'vllm', reachable: true, healthy: health.status === 200, models: list, contextLength: list[0]?.contextLength ?? null, sleeping, error: null };
    } catch (err) {
      return unreachable('vllm', err);
    }
  },
};

export async function vllmSleep(baseUrl: string, level: 1 | 2, options?: HttpOptions): Promise<void> {
  const r = await postJson(`${baseUrl}/sleep?level=${level}`, undefined, { ...options, timeoutMs: options?.timeoutMs ?? 60_000 });
  if (r.status === 404) throw new Error('vLLM has no /sleep endpoint: start it with --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1 to allow unloading by sleep.');
  if (r.status !== 200) throw new Error(`vLLM refused to sleep: HTTP ${r.status} ${r.text}`);
}

export async function vllmWakeUp(baseUrl: string, options?: HttpOptions): Promise<void> {
  const r = await postJson(`${baseUrl}/wake_up`, undefined, options);
  if (r.status !== 200) throw new Error(`vLLM refused to wake up: HTTP ${r.status} ${r.text}`);
}
