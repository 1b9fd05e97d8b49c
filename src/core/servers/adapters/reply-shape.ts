/**
 * What a model server's reply must look like before anything in it is believed. A reply in the wrong
 * shape (garbage, HTML from another program on the port, wrong types) is a ReplyShapeError: the
 * server's state is "unknown", never "healthy, no models". Figures no real server reports (a context
 * of 10^30 tokens, a petabyte of VRAM) are dropped with a note.
 */
import { isRecord, quoteReply, UnreadableReply, type HttpReply } from '../http.ts';

/** The longest context any model offers today is 10 M tokens: 2^24 leaves room, 10^30 does not. */
export const MAX_PLAUSIBLE_CONTEXT = 2 ** 24;
/** More VRAM than any single machine holds (16 TiB). */
export const MAX_PLAUSIBLE_VRAM_BYTES = 2 ** 44;
/** More models than a server lists are not read. */
export const MAX_MODELS = 1000;
const MAX_NAME_CHARS = 512;

export class ReplyShapeError extends UnreadableReply {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyShapeError';
  }
}

/** The reply's JSON object, or a ReplyShapeError naming what was expected and quoting what came. */
export function jsonObject(reply: HttpReply, what: string, expected: string): Record<string, unknown> {
  if (isRecord(reply.json)) return reply.json;
  throw new ReplyShapeError(`${what} answered HTTP ${reply.status} with ${reply.text ? quoteReply(reply.text) : 'an empty body'}, not ${expected}`);
}

/** A list field of an object, or a ReplyShapeError. */
export function listField(obj: Record<string, unknown>, key: string, what: string): unknown[] {
  const v = obj[key];
  if (!Array.isArray(v)) throw new ReplyShapeError(`${what}: "${key}" is ${describe(v)}, not a list`);
  if (v.length > MAX_MODELS) throw new ReplyShapeError(`${what}: "${key}" lists ${v.length} entries, more than ${MAX_MODELS}`);
  return v;
}

/** A name (a non-empty string, cut to a sane length), or a ReplyShapeError. */
export function nameField(v: unknown, what: string): string {
  if (typeof v !== 'string' || !v) throw new ReplyShapeError(`${what} is ${describe(v)}, not a name`);
  return v.length > MAX_NAME_CHARS ? `${v.slice(0, MAX_NAME_CHARS)}…` : v;
}

/**
 * A figure that may be absent (null). Present but of the wrong type is a ReplyShapeError; present but
 * outside [min, max] is dropped (null) and noted in `notes`.
 */
export function figure(v: unknown, what: string, max: number, notes: string[], options: { integer?: boolean; min?: number } = {}): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ReplyShapeError(`${what} is ${describe(v)}, not a number`);
  const min = options.min ?? 0;
  if (v < min || v > max || (options.integer && !Number.isInteger(v))) {
    notes.push(`ignored ${what} ${v}: no real server reports that`);
    return null;
  }
  return v;
}

export const contextFigure = (v: unknown, what: string, notes: string[]) => figure(v, what, MAX_PLAUSIBLE_CONTEXT, notes, { integer: true, min: 1 });
export const vramFigure = (v: unknown, what: string, notes: string[]) => figure(v, what, MAX_PLAUSIBLE_VRAM_BYTES, notes, { integer: true });

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the text ${quoteReply(v, 40)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v).slice(0, 40)}`;
}
