/** faster-whisper servers (speaches): `/health` and `/api/ps` (loaded model ids); `DELETE /api/ps/{id}` unloads. */
import { getJson, isRecord, request, type HttpOptions } from '../http.ts';
import { unreachable, type ServerAdapter } from './types.ts';

export const fasterWhisperAdapter: ServerAdapter = {
  kind: 'faster-whisper',
  async report(baseUrl, options) {
    try {
      const health = await getJson(`${baseUrl}/health`, options);
      const ps = await getJson(`${baseUrl}/api/ps`, options).catch(() => null);
      const ids = ps && isRecord(ps.json) && Array.isArray(ps.json['models']) ? ps.json['models'].filter((m): m is string => typeof m === 'string') : [];
      return { kind: 'faster-whisper', reachable: true, healthy: health.status === 200, models: ids.map((name) => ({ name, vramBytes: null, contextLength: null })), contextLength: null, sleeping: null, error: null };
    } catch (err) {
      return unreachable('faster-whisper', err);
    }
  },
};

export async function fasterWhisperUnload(baseUrl: string, model: string, options?: HttpOptions): Promise<void> {
  const r = await request('DELETE', `${baseUrl}/api/ps/${encodeURIComponent(model)}`, undefined, options);
  if (r.status !== 200 && r.status !== 204) throw new Error(`The Whisper server could not unload ${model}: HTTP ${r.status} ${r.text}`);
}
