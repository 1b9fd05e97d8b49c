/** Small HTTP calls to model servers' APIs: a timeout on each, JSON checked where it enters. */

export interface HttpOptions {
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface HttpReply {
  status: number;
  /** Parsed JSON, or null when the body was empty or not JSON. */
  json: unknown;
  text: string;
}

export async function request(method: string, url: string, body: unknown, options: HttpOptions = {}): Promise<HttpReply> {
  const fetchFn = options.fetch ?? fetch;
  const init: RequestInit = { method, signal: AbortSignal.timeout(options.timeoutMs ?? 3000) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  let res: Response;
  try {
    res = await fetchFn(url, init);
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
    throw new Error(`${method} ${url} failed: ${cause}`);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

export const getJson = (url: string, options?: HttpOptions) => request('GET', url, undefined, options);
export const postJson = (url: string, body: unknown, options?: HttpOptions) => request('POST', url, body, options);

export function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
