/**
 * The pre-flight's settings and what the user types when asked for the need. Pure (no `vscode`):
 * handed a getter and strings, so it is tested without VS Code.
 */
import { DEFAULT_CONTEXT, DEFAULT_KV_CACHE_TYPE, DEFAULT_PARALLEL, KV_CACHE_TYPES, type KvCacheType } from '../core/checks/gguf-estimate.ts';
import { DEFAULT_MARGIN_TEXT, DEFAULT_RESIDUAL_THRESHOLD_TEXT } from '../core/checks/preflight.ts';
import { parseSize, type SizeSpec } from '../core/units.ts';

export interface PreflightSettings {
  margin: SizeSpec;
  residualThreshold: SizeSpec;
  problems: string[];
}

/** `vramGuard.preflight.margin` and `vramGuard.preflight.residualThreshold`; `get` takes the key after `vramGuard.`. */
export function readPreflightSettings(get: (key: string) => unknown): PreflightSettings {
  const problems: string[] = [];
  const size = (key: string, fallback: string): SizeSpec => {
    const raw = get(key);
    const parsed = parseSize(raw === undefined || raw === null ? fallback : raw);
    if (!('error' in parsed)) return parsed;
    problems.push(`vramGuard.${key}: ${parsed.error}. Using ${fallback}.`);
    return parseSize(fallback) as SizeSpec;
  };
  return {
    margin: size('preflight.margin', DEFAULT_MARGIN_TEXT),
    residualThreshold: size('preflight.residualThreshold', DEFAULT_RESIDUAL_THRESHOLD_TEXT),
    problems,
  };
}

/** "6GiB", "6144MiB", "5.5 GB" → bytes; a sentence saying how to write it otherwise. */
export function parseNeedText(text: string): { bytes: number } | { error: string } {
  const parsed = parseSize(text);
  if ('error' in parsed) return { error: parsed.error };
  if (parsed.kind === 'percent') return { error: 'Write the need as a size, such as 6GiB or 6144MiB, not a percentage.' };
  if (parsed.bytes <= 0) return { error: 'The need must be more than 0.' };
  return { bytes: parsed.bytes };
}

export interface ModelRun {
  contextLength: number;
  parallel: number;
  kvCacheType: KvCacheType;
}

export const MODEL_RUN_DEFAULT_TEXT = `${DEFAULT_CONTEXT}`;

/** "4096", "8192x2", "8192 x 2 q8_0", "4096 q4_0": context per sequence, × parallel slots, KV cache type. */
export function parseModelRunText(text: string): ModelRun | { error: string } {
  const m = /^\s*(\d+)(?:\s*[x×]\s*(\d+))?(?:\s*[,\s]\s*([a-z0-9_]+))?\s*$/i.exec(text);
  const help = `Write the context per sequence, then optionally × parallel slots and the KV cache type, e.g. "4096", "8192x2" or "8192x2 q8_0" (types: ${KV_CACHE_TYPES.join(', ')}).`;
  if (!m) return { error: help };
  const contextLength = Number(m[1]);
  const parallel = m[2] === undefined ? DEFAULT_PARALLEL : Number(m[2]);
  const kv = (m[3] ?? DEFAULT_KV_CACHE_TYPE).toLowerCase();
  if (contextLength < 1 || contextLength > 16_777_216) return { error: `The context must be from 1 to 16777216 tokens. ${help}` };
  if (parallel < 1 || parallel > 1024) return { error: `Parallel slots must be from 1 to 1024. ${help}` };
  if (!(KV_CACHE_TYPES as readonly string[]).includes(kv)) return { error: `"${m[3]}" is not a KV cache type. ${help}` };
  return { contextLength, parallel, kvCacheType: kv as KvCacheType };
}
