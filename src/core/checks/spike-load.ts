/**
 * The load a spike puts on each server: one inference request of the kind the server answers
 * (its kind's entry says which: a completion for llama-server, Ollama and vLLM, a transcription for
 * the Whisper servers), or one the spec describes. Each request has a timeout and stops when the spike is cancelled.
 */
import type { SpikeLoad, SpikeServer } from './spike-spec.ts';
import { kindEntry } from '../servers/kinds/index.ts';
import type { SpikeRequest } from '../servers/kinds/kind-entry.ts';
import { pcm16MonoWav } from '../audio/wav.ts';
import { anySignal } from '../abort-signals.ts';
import { causeMessage, toError } from '../errors.ts';

export interface LoadOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  fetch?: typeof fetch;
}

export interface LoadResult {
  ok: boolean;
  /** The HTTP status; null when no answer came. */
  status: number | null;
  ms: number;
  /** Why it failed, in a sentence; null when it succeeded. */
  error: string | null;
}

/** A request, described: for the report ("POST /api/generate (llama3.2:3b)"). */
export function describeLoad(server: SpikeServer): string {
  const l = server.load;
  switch (l.kind) {
    case 'none':
      return 'none';
    case 'json':
      return `POST ${l.path}`;
    case 'audio':
      return `POST ${l.path} (1 s of audio as "${l.field}")`;
    case 'default': {
      const r = defaultRequest(server.task.server, l);
      return r ? `POST ${r.path}${l.model ? ` (${l.model})` : ''}` : 'none';
    }
  }
}

type Request = SpikeRequest;

/** The kind's usual request (kinds/), or none. */
function defaultRequest(kind: SpikeServer['task']['server'], l: Extract<SpikeLoad, { kind: 'default' }>): Request | null {
  return kindEntry(kind).spike?.request(l) ?? null;
}

/** One second of silence, 16 kHz mono 16-bit PCM, as a WAV file: what Whisper servers transcribe. */
export function silenceWav(seconds = 1, rate = 16_000): Uint8Array {
  const b = pcm16MonoWav(Math.round(seconds * rate), rate, () => 0);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

async function resolveRequest(server: SpikeServer, base: string, options: LoadOptions, signal: AbortSignal): Promise<Request | null> {
  const l = server.load;
  if (l.kind === 'none') return null;
  if (l.kind === 'json') return { path: l.path, json: l.body };
  if (l.kind === 'audio') return { path: l.path, audioField: l.field, fields: l.model ? { model: l.model } : {} };
  const askModel = kindEntry(server.task.server).spike?.askModel;
  if (askModel && !l.model) {
    // A server that serves one model (vLLM): ask which, as its API expects the id.
    return defaultRequest(server.task.server, { ...l, model: await askModel(base, options.fetch ?? fetch, signal) });
  }
  return defaultRequest(server.task.server, l);
}

/** Sends the server's load request once and waits for the answer. */
export async function sendLoad(server: SpikeServer, options: LoadOptions): Promise<LoadResult> {
  const t0 = performance.now();
  const done = (ok: boolean, status: number | null, error: string | null): LoadResult => ({ ok, status, ms: Math.round(performance.now() - t0), error });
  if (!server.baseUrl)
    return done(false, null, `"${server.name}" has no port, so it cannot be sent a request; give its "port" or "healthUrl", or "load": "none".`);
  const signals = [AbortSignal.timeout(options.timeoutMs)];
  if (options.signal) signals.push(options.signal);
  const signal = anySignal(signals);
  try {
    const r = await resolveRequest(server, server.baseUrl, options, signal);
    if (!r) return done(true, null, null);
    const init: RequestInit = { method: 'POST', signal };
    if ('json' in r) {
      init.body = JSON.stringify(r.json);
      init.headers = { 'content-type': 'application/json' };
    } else {
      const form = new FormData();
      form.append(r.audioField, new Blob([silenceWav()], { type: 'audio/wav' }), 'silence.wav');
      for (const [k, v] of Object.entries(r.fields)) if (v) form.append(k, v);
      init.body = form;
    }
    const res = await (options.fetch ?? fetch)(`${server.baseUrl}${r.path}`, init);
    const text = await res.text();
    if (res.ok) return done(true, res.status, null);
    return done(false, res.status, `POST ${r.path} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
  } catch (err) {
    if (options.signal?.aborted) return done(false, null, 'cancelled');
    const e = toError(err);
    const why = e.name === 'TimeoutError' ? `no answer within ${Math.round(options.timeoutMs / 1000)} s` : causeMessage(e);
    return done(false, null, why);
  }
}
