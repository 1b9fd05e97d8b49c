/**
 * Small HTTP calls to model servers' APIs: a time limit on each (the body included), a size cap on
 * what is read (a server that answers without end is cut off, never buffered), JSON checked where it
 * enters.
 */
import { causeMessage } from '../errors.ts';
import { MiB } from '../units.ts';

/** Replies larger than this are not read (the largest real one, Ollama's /api/tags with many models, is a few hundred KiB). */
export const MAX_REPLY_BYTES = MiB;

export interface HttpOptions {
  timeoutMs?: number;
  /** Bodies larger than this are refused (default MAX_REPLY_BYTES). */
  maxBytes?: number;
  fetch?: typeof fetch;
}

/** The server answered, but its reply cannot be used (too large, cut off, or not in the expected shape). */
export class UnreadableReply extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableReply';
  }
}

export interface HttpReply {
  status: number;
  /** Parsed JSON, or null when the body was empty or not JSON. */
  json: unknown;
  text: string;
}

export async function request(method: string, url: string, body: unknown, options: HttpOptions = {}): Promise<HttpReply> {
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 3000;
  const init: RequestInit = { method, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  let res: Response;
  try {
    res = await fetchFn(url, init);
  } catch (err) {
    throw new Error(`${method} ${url} failed: ${timedOut(err) ? `no answer within ${seconds(timeoutMs)}` : causeOf(err)}`);
  }
  let text: string;
  try {
    text = await readBody(res, options.maxBytes ?? MAX_REPLY_BYTES);
  } catch (err) {
    throw new UnreadableReply(
      `${method} ${url}: ${timedOut(err) ? `the reply did not end within ${seconds(timeoutMs)} (HTTP ${res.status}); it was cut off` : causeOf(err)}`,
    );
  }
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

/** Reads a body as UTF-8, up to `maxBytes`; a larger one is cancelled and refused. */
export async function readBody(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`the reply is ${declared} bytes, more than the ${maxBytes} read from a model server (HTTP ${res.status}); it was not read`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new Error(`the reply is more than the ${maxBytes} bytes read from a model server (HTTP ${res.status}); it was cut off`);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

/** Drops a body without reading it (a health probe only needs the status). */
export async function discardBody(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}

function timedOut(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

function causeOf(err: unknown): string {
  return causeMessage(err);
}

const seconds = (ms: number) => `${ms < 10_000 ? (ms / 1000).toFixed(1) : Math.round(ms / 1000)} s`;

export const getJson = (url: string, options?: HttpOptions) => request('GET', url, undefined, options);
export const postJson = (url: string, body: unknown, options?: HttpOptions) => request('POST', url, body, options);

export function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A short quote of a reply for messages (at most `max` characters). */
export function quoteReply(text: string, max = 120): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine);
}
