/** whisper.cpp's whisper-server: `/health` only (200 `{"status":"ok"}`, 503 `{"status":"loading model"}`). */
import { getJson, isRecord, str } from '../http.ts';
import { jsonObject, ReplyShapeError } from './reply-shape.ts';
import { readReport, type ServerAdapter, unhealthy } from './types.ts';

export const whisperCppAdapter: ServerAdapter = {
  kind: 'whisper-cpp',
  report: (baseUrl, options) =>
    readReport('whisper-cpp', async () => {
      const r = await getJson(`${baseUrl}/health`, options);
      if (r.status !== 200) {
        const status = isRecord(r.json) ? str(r.json.status) : null;
        return unhealthy('whisper-cpp', `health: ${status ?? `HTTP ${r.status}`}`);
      }
      if (jsonObject(r, 'GET /health', 'whisper-server\'s {"status": "ok"}').status !== 'ok')
        throw new ReplyShapeError('GET /health answered 200 without "status": "ok"');
      return { kind: 'whisper-cpp', reachable: true, healthy: true, models: [], contextLength: null, sleeping: null, error: null };
    }),
};
