/**
 * One HTTP GET to a fleet source, bounded in time and size: the whole exchange (connect, headers,
 * body) must end within `timeoutMs`, and a body longer than `maxBytes` is cut off and refused
 * rather than read into memory. Failures come back as a FleetSourceError with a sentence.
 */
import { FleetSourceError, quoteStart } from './source-error.ts';
import { errorMessage } from '../errors.ts';

export interface BoundedFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Sent as `Authorization: Bearer …` when set. */
  bearerToken?: string | null;
  accept?: string;
  fetch?: typeof fetch;
}

export interface BoundedReply {
  status: number;
  contentType: string;
  text: string;
}

/** Checks a source URL: http or https, a host, no user or password in it. */
export function checkSourceUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FleetSourceError('bad-url', `${what} ${quoteStart(raw, 80)} is not a URL: write it like http://prometheus.lan:9090`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new FleetSourceError('bad-url', `${what} ${quoteStart(raw, 80)} must start with http:// or https://`);
  if (url.username || url.password)
    throw new FleetSourceError(
      'bad-url',
      `${what} ${quoteStart(url.host, 80)} carries a user or password in the URL: set a token with "VRAM Guard: Set Prometheus Token" instead`,
    );
  if (!url.hostname) throw new FleetSourceError('bad-url', `${what} ${quoteStart(raw, 80)} names no host`);
  return url;
}

export async function boundedGet(url: URL, options: BoundedFetchOptions): Promise<BoundedReply> {
  const fetchFn = options.fetch ?? fetch;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const where = `${url.origin}${url.pathname}`;
  try {
    const headers: Record<string, string> = { accept: options.accept ?? '*/*' };
    if (options.bearerToken) headers.authorization = `Bearer ${options.bearerToken}`;
    let res: Response;
    try {
      res = await fetchFn(url, { method: 'GET', headers, signal: controller.signal, redirect: 'error' });
    } catch (err) {
      if (timedOut) throw new FleetSourceError('timeout', `${where} did not answer within ${options.timeoutMs / 1000} s`);
      throw new FleetSourceError('unreachable', `${where} could not be reached: ${causeOf(err)}`);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      controller.abort();
      throw new FleetSourceError('too-large', `${where} sent ${declared} bytes, more than the ${options.maxBytes} a reply may be`);
    }
    const text = await readCapped(res, options.maxBytes, where, controller, () => timedOut, options.timeoutMs);
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: redactToken(text, options.bearerToken) };
  } finally {
    clearTimeout(timer);
  }
}

export const REDACTED = '[token hidden]';

/**
 * A reply with the bearer token taken out. Some servers and proxies echo the request's headers in
 * an error page, and an error quotes the start of the reply: the token must never reach the
 * output. Removed: the token as sent, as JSON writes it (`/` may come back as `\/`), and whatever
 * follows "Authorization: Bearer" in any quoting. Done before any quote is cut, so no prefix leaks.
 */
export function redactToken(text: string, token: string | null | undefined): string {
  if (!token) return text;
  let out = text;
  const jsonForm = JSON.stringify(token).slice(1, -1);
  for (const form of new Set([token, jsonForm, jsonForm.replaceAll('/', '\\/')])) if (out.includes(form)) out = out.replaceAll(form, REDACTED);
  return out.replace(/(authorization["'\\]*\s*[:=]\s*[[\s"'\\]*bearer\s+)(?!\[token hidden\])[^\s"'\\,;}<]+/gi, `$1${REDACTED}`);
}

async function readCapped(
  res: Response,
  maxBytes: number,
  where: string,
  controller: AbortController,
  timedOut: () => boolean,
  timeoutMs: number,
): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  // Decoded as it arrives: no second copy of the bytes.
  const decoder = new TextDecoder('utf-8');
  const parts: string[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        controller.abort();
        throw new FleetSourceError('too-large', `${where} sent more than the ${maxBytes} bytes a reply may be; the rest was not read`);
      }
      parts.push(decoder.decode(value, { stream: true }));
    }
  } catch (err) {
    if (err instanceof FleetSourceError) throw err;
    if (timedOut()) throw new FleetSourceError('timeout', `${where} did not finish its reply within ${timeoutMs / 1000} s`);
    throw new FleetSourceError('unreachable', `${where} broke off its reply: ${causeOf(err)}`);
  }
  parts.push(decoder.decode());
  return parts.join('');
}

function causeOf(err: unknown): string {
  if (err instanceof Error && err.cause instanceof Error) return err.cause.message;
  return errorMessage(err);
}
