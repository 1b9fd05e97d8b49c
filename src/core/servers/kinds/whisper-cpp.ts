/**
 * whisper.cpp's whisper-server: `/health` only (200 `{"status":"ok"}`, 503 `{"status":"loading
 * model"}`); `-ng` moves it to the CPU; a spike sends it one transcription.
 */
import { getJson, isRecord, str } from '../http.ts';
import { jsonObject, ReplyShapeError } from '../adapters/reply-shape.ts';
import { readReport, type ServerAdapter, unhealthy } from '../adapters/types.ts';
import { optionValue, programNames, type ProcessKind } from '../recognition/process-kind.ts';
import type { ServerKindEntry } from './kind-entry.ts';

declare module './server-kind.ts' {
  interface ServerKinds {
    'whisper-cpp': true;
  }
}

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

/** whisper.cpp's whisper-server (and its other programs, whisper-cli, whisper-stream): the model from -m/--model. */
export const whisperCppProcess: ProcessKind = {
  id: 'whisper-cpp',
  label: 'whisper.cpp',
  serverKind: 'whisper-cpp',
  listens: true,
  recognise: (p) => {
    const name = programNames(p).find((n) => /^whisper-(server|cli|stream|command|talk-llama)$/.test(n));
    if (!name) return null;
    return { role: name === 'whisper-server' ? null : name, model: optionValue(p.argv, ['-m', '--model']) };
  },
};

export const whisperCppKind: ServerKindEntry = {
  id: 'whisper-cpp',
  label: 'whisper.cpp',
  family: 'whisper',
  defaults: { command: ['whisper-server'], port: 8080, healthPath: '/health', contextArg: null, cpuArgs: ['-ng'], cpuEnv: {} },
  adapter: whisperCppAdapter,
  processes: [whisperCppProcess],
  fallback: { outsideAdvice: { moveToCpu: 'start it with -ng (--no-gpu)' } },
  sizing: null,
  spike: { request: () => ({ path: '/inference', audioField: 'file', fields: { response_format: 'json' } }), needsModel: null },
};
