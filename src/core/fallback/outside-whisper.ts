/**
 * `unloadModel` on a faster-whisper server VRAM Guard did not start (speaches, as a user service or
 * from a terminal): through its own API at the port it listens on — `GET /api/ps` lists the loaded
 * models, `DELETE /api/ps/{id}` unloads one — as for a task's. A server without that list
 * (whisper-asr-webservice answers 404) cannot unload while running: the step says a
 * stopServer or restartServer step can act on its unit.
 */
import { fasterWhisperAdapter, fasterWhisperUnload } from '../servers/adapters/faster-whisper.ts';
import type { FallbackStep } from '../servers/fallback-steps.ts';
import type { HttpOptions } from '../servers/http.ts';
import type { ProcessRecognition } from '../servers/recognition/recogniser.ts';
import type { Plan } from './executor.ts';

export async function unloadFromFasterWhisper(step: FallbackStep, r: ProcessRecognition, name: string, http: HttpOptions): Promise<Plan> {
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
