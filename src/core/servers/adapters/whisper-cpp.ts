/** whisper.cpp's whisper-server: `/health` only (200 `{"status":"ok"}`, 503 while loading). */
import { getJson, isRecord, str } from '../http.ts';
import { unreachable, type ServerAdapter } from './types.ts';

export const whisperCppAdapter: ServerAdapter = {
  kind: 'whisper-cpp',
  async report(baseUrl, options) {
    try {
      const r = await getJson(`${baseUrl}/health`, options);
      const status = isRecord(r.json) ? str(r.json['status']) : null;
      return { kind: 'whisper-cpp', reachable: true, healthy: r.status === 200, models: [], contextLength: null, sleeping: null, error: r.status === 200 ? null : `health: ${status ?? `HTTP ${r.status}`}` };
    } catch (err) {
      return unreachable('whisper-cpp', err);
    }
  },
};
