/**
 * faster-whisper servers (speaches): `/health` and `/api/ps` (`{"models": [ids]}`); `DELETE
 * /api/ps/{id}` unloads; its device is chosen by environment (the CPU switch); a spike sends it one
 * transcription.
 */
import { getJson, request, type HttpOptions } from '../http.ts';
import { jsonObject, listField, nameField } from '../adapters/reply-shape.ts';
import { readReport, type ServerAdapter, unhealthy } from '../adapters/types.ts';
import { optionValue, programNames, type ProcessKind } from '../recognition/process-kind.ts';
import type { OutsideServer, OutsideStep, ServerKindEntry, StepPlan, TaskStep } from './kind-entry.ts';

declare module './server-kind.ts' {
  interface ServerKinds {
    'faster-whisper': true;
  }
}

export const fasterWhisperAdapter: ServerAdapter = {
  kind: 'faster-whisper',
  report: (baseUrl, options) =>
    readReport('faster-whisper', async () => {
      const health = await getJson(`${baseUrl}/health`, options);
      if (health.status !== 200) return unhealthy('faster-whisper', `health answered HTTP ${health.status}`);
      // Servers without a model list (whisper-asr-webservice) answer 404 here: no models known.
      const ps = await getJson(`${baseUrl}/api/ps`, options);
      const ids =
        ps.status === 404
          ? []
          : listField(jsonObject(ps, 'GET /api/ps', '{"models": [ids]}'), 'models', 'GET /api/ps').map((m, i) => nameField(m, `GET /api/ps: models[${i}]`));
      return {
        kind: 'faster-whisper',
        reachable: true,
        healthy: true,
        models: ids.map((name) => ({ name, vramBytes: null, contextLength: null })),
        contextLength: null,
        sleeping: null,
        error: null,
      };
    }),
};

export async function fasterWhisperUnload(baseUrl: string, model: string, options?: HttpOptions): Promise<void> {
  const r = await request('DELETE', `${baseUrl}/api/ps/${encodeURIComponent(model)}`, undefined, options);
  if (r.status !== 200 && r.status !== 204) throw new Error(`The Whisper server could not unload ${model}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
}

const FASTER_WHISPER = /faster[_-]whisper|speaches|whisper[_-]asr|wyoming[_-]faster[_-]whisper/i;

/** faster-whisper servers (speaches, whisper-asr-webservice, wyoming-faster-whisper): by program, module or script. */
export const fasterWhisperProcess: ProcessKind = {
  id: 'faster-whisper',
  label: 'faster-whisper',
  serverKind: 'faster-whisper',
  listens: true,
  recognise: (p) => {
    // `python -m speaches`, `uvicorn speaches.main:create_app`, `wyoming-faster-whisper --model ...`
    const named = programNames(p).some((n) => FASTER_WHISPER.test(n)) || p.argv.slice(1, 8).some((a) => FASTER_WHISPER.test(a));
    return named ? { role: null, model: optionValue(p.argv, ['--model', '--model-name']) } : null;
  },
};

async function unloadModel({ name, base, http, model }: TaskStep): Promise<StepPlan> {
  const models = (await fasterWhisperAdapter.report(base, http)).models.map((m) => m.name).filter((m) => !model || m === model);
  if (!models.length) return { ok: false, target: name, reason: `"${name}" has no model loaded` };
  return {
    ok: true,
    target: name,
    description: `unload ${models.join(', ')} from "${name}"`,
    run: async () => {
      for (const m of models) await fasterWhisperUnload(base, m, http);
      return `unloaded ${models.join(', ')}`;
    },
  };
}

/**
 * `unloadModel` on a faster-whisper server VRAM Guard did not start (speaches, as a user service or
 * from a terminal): through its own API at the port it listens on, as for a task's. A server without
 * that list (whisper-asr-webservice answers 404) cannot unload while running: the step says a
 * stopServer or restartServer step can act on its unit.
 */
async function unloadOutside(r: OutsideServer, step: OutsideStep): Promise<StepPlan> {
  const name = step.describe(r);
  const http = step.http;
  const port = r.ports[0];
  if (port === undefined) return { ok: false, target: name, reason: `${name} listens on no port VRAM Guard can read` };
  const url = `http://127.0.0.1:${port}`;
  // The adapter's report never throws: no answer is `reachable: false`, a reply it cannot use an error.
  const report = await fasterWhisperAdapter.report(url, http);
  if (!report.reachable)
    return { ok: false, target: name, reason: `faster-whisper at ${url} did not answer (${report.error ?? 'no reply'}): nothing unloaded` };
  if (report.error) return { ok: false, target: name, reason: `faster-whisper at ${url}: ${report.error}` };
  const models = report.models.map((m) => m.name).filter((m) => !step.model || m === step.model);
  if (!models.length)
    return {
      ok: false,
      target: name,
      reason: `faster-whisper at ${url} has ${step.model ? `no ${step.model}` : 'no model'} loaded (a server without GET /api/ps cannot unload while running: a stopServer or restartServer step can act on its unit)`,
    };
  const where = r.unit ? ` (${r.unit.name})` : '';
  return {
    ok: true,
    target: `faster-whisper at ${url}`,
    description: `unload ${models.join(', ')} from faster-whisper at ${url}${where}, started outside VRAM Guard`,
    run: async () => {
      for (const m of models) await fasterWhisperUnload(url, m, { ...http, timeoutMs: 30_000 });
      return `unloaded ${models.join(', ')}`;
    },
  };
}

export const fasterWhisperKind: ServerKindEntry = {
  id: 'faster-whisper',
  label: 'faster-whisper',
  family: 'whisper',
  defaults: {
    command: null,
    port: 8000,
    healthPath: '/health',
    contextArg: null,
    cpuArgs: [],
    cpuEnv: { WHISPER__INFERENCE_DEVICE: 'cpu', ASR_DEVICE: 'cpu' },
  },
  adapter: fasterWhisperAdapter,
  processes: [fasterWhisperProcess],
  fallback: {
    outsideAdvice: { moveToCpu: 'start it with WHISPER__INFERENCE_DEVICE=cpu (speaches), or device="cpu" in its WhisperModel' },
    unloadModel,
    unloadOutside: { from: 'faster-whisper', attempts: (found, step) => found.map((r) => () => unloadOutside(r, step)) },
  },
  sizing: null,
  spike: {
    request: (l) => ({ path: '/v1/audio/transcriptions', audioField: 'file', fields: { model: l.model ?? '', response_format: 'json' } }),
    needsModel: {
      ask: 'say which model transcribes, with "load": { "model": "Systran/faster-distil-whisper-large-v3" }, or give the request with "load": { "path": "/asr?output=json", "audioField": "audio_file" }.',
      example: 'Systran/faster-distil-whisper-large-v3',
    },
  },
};
