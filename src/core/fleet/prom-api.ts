/**
 * Prometheus' HTTP API, read-only: `/api/v1/query` (an instant vector) and `/api/v1/query_range`
 * (a matrix). Every reply is bounded (bytes, series, points), checked against the documented
 * envelope `{"status":"success","data":{"resultType":…,"result":[…]}}`, and an error comes back as
 * a FleetSourceError quoting Prometheus' own `errorType` and `error`.
 */
import { boundedGet, checkSourceUrl, type BoundedFetchOptions } from './bounded-fetch.ts';
import { FleetSourceError, quoteStart } from './source-error.ts';

export interface PromApiOptions extends Omit<BoundedFetchOptions, 'accept'> {
  /** The base URL, e.g. http://prometheus.lan:9090 or https://host/prometheus/. */
  baseUrl: string;
  maxSeries?: number;
  maxPoints?: number;
}

export interface VectorSample {
  /** The `__name__` label, or '' when the query's result has none. */
  name: string;
  labels: Record<string, string>;
  /** Seconds since the epoch. */
  t: number;
  value: number;
}

export interface MatrixSeries {
  labels: Record<string, string>;
  /** Seconds since the epoch, and values, in order. */
  t: number[];
  v: number[];
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The URL of an API path under the base (which may carry a path prefix). */
export function apiUrl(baseUrl: string, path: string, params: Record<string, string>): URL {
  const base = checkSourceUrl(baseUrl, 'vramGuard.fleet.prometheus');
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const url = new URL(`${prefix}${path}`, base.origin);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url;
}

async function call(options: PromApiOptions, path: string, params: Record<string, string>, resultType: 'vector' | 'matrix'): Promise<unknown[]> {
  const url = apiUrl(options.baseUrl, path, params);
  const reply = await boundedGet(url, { ...options, accept: 'application/json' });
  let body: unknown;
  try {
    body = JSON.parse(reply.text);
  } catch {
    if (reply.status === 401 || reply.status === 403)
      throw new FleetSourceError('http', `${url.origin} answered ${reply.status}: it wants a token (run "VRAM Guard: Set Prometheus Token")`);
    if (reply.status < 200 || reply.status > 299)
      throw new FleetSourceError('http', `${url.origin}${url.pathname} answered HTTP ${reply.status}: ${quoteStart(reply.text)}`);
    throw new FleetSourceError('malformed', `${url.origin}${url.pathname} did not answer JSON: ${quoteStart(reply.text)}`);
  }
  if (!isObject(body)) throw new FleetSourceError('malformed', `${url.origin}${url.pathname} answered ${quoteStart(reply.text)}, not a Prometheus API reply`);
  if (body.status === 'error') {
    throw new FleetSourceError(
      'prometheus',
      `Prometheus at ${url.origin} refused the query (${String(body.errorType).slice(0, 40)}): ${String(body.error).slice(0, 300)}`,
    );
  }
  if (reply.status < 200 || reply.status > 299)
    throw new FleetSourceError('http', `${url.origin}${url.pathname} answered HTTP ${reply.status}: ${quoteStart(reply.text)}`);
  const data = body.data;
  if (body.status !== 'success' || !isObject(data) || data.resultType !== resultType || !Array.isArray(data.result)) {
    throw new FleetSourceError('malformed', `${url.origin}${url.pathname} answered without a ${resultType} result: ${quoteStart(reply.text)}`);
  }
  const result = data.result;
  const maxSeries = options.maxSeries ?? 20_000;
  if (result.length > maxSeries)
    throw new FleetSourceError('too-large', `${url.origin} returned ${result.length} series, more than the ${maxSeries} VRAM Guard reads`);
  return result;
}

function labelsOf(x: unknown, where: string): Record<string, string> {
  if (!isObject(x)) throw new FleetSourceError('malformed', `${where}: a series without its "metric" labels`);
  for (const k in x) if (typeof x[k] !== 'string') throw new FleetSourceError('malformed', `${where}: a label value is not a string`);
  return x as Record<string, string>;
}

const badPoint = (where: string, x: unknown) =>
  new FleetSourceError('malformed', `${where}: a point is not [time, "value"]: ${quoteStart(JSON.stringify(x) ?? '', 60)}`);

/** A point's time (seconds), checked; `pointValue` reads its value. No tuple is allocated per point. */
function timeOf(x: unknown, where: string): number {
  if (!Array.isArray(x) || x.length !== 2 || typeof x[0] !== 'number' || !Number.isFinite(x[0]) || typeof x[1] !== 'string') throw badPoint(where, x);
  return x[0];
}

function pointValue(x: unknown, where: string): number {
  const text = (x as [number, string])[1];
  const value = text === 'NaN' ? NaN : text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
  if (text.trim() === '' || (Number.isNaN(value) && text !== 'NaN'))
    throw new FleetSourceError('malformed', `${where}: "${text.slice(0, 40)}" is not a number`);
  return value;
}

export async function instantQuery(options: PromApiOptions, query: string, timeSeconds?: number): Promise<VectorSample[]> {
  const params: Record<string, string> = { query };
  if (timeSeconds !== undefined) params.time = String(timeSeconds);
  const result = await call(options, 'api/v1/query', params, 'vector');
  return result.map((r) => {
    if (!isObject(r)) throw new FleetSourceError('malformed', 'query: a result that is not an object');
    const labels = labelsOf(r.metric, 'query');
    const t = timeOf(r.value, 'query');
    return { name: labels.__name__ ?? '', labels, t, value: pointValue(r.value, 'query') };
  });
}

export async function rangeQuery(
  options: PromApiOptions,
  query: string,
  startSeconds: number,
  endSeconds: number,
  stepSeconds: number,
): Promise<MatrixSeries[]> {
  const result = await call(
    options,
    'api/v1/query_range',
    { query, start: String(startSeconds), end: String(endSeconds), step: String(stepSeconds) },
    'matrix',
  );
  const maxPoints = options.maxPoints ?? 2_000_000;
  let points = 0;
  return result.map((r) => {
    if (!isObject(r) || !Array.isArray(r.values)) throw new FleetSourceError('malformed', 'query_range: a series without "values"');
    const values = r.values as unknown[];
    points += values.length;
    if (points > maxPoints) throw new FleetSourceError('too-large', `query_range returned more than ${maxPoints} points`);
    const t = new Array<number>(values.length);
    const v = new Array<number>(values.length);
    for (let i = 0; i < values.length; i++) {
      t[i] = timeOf(values[i], 'query_range');
      v[i] = pointValue(values[i], 'query_range');
    }
    return { labels: labelsOf(r.metric, 'query_range'), t, v };
  });
}
