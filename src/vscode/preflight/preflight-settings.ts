/**
 * The pre-flight's settings and what the user types when asked for the need. Pure (no `vscode`):
 * handed a getter and strings, so it is tested without VS Code.
 */
import { parseLlamaServerArgs, splitCommandLine } from '../../core/estimate/server-args.ts';
import { DEFAULT_MARGIN_TEXT, DEFAULT_RESIDUAL_THRESHOLD_TEXT } from '../../core/checks/preflight.ts';
import { parseSize, type SizeSpec } from '../../core/units.ts';

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

/** What the input box offers: a context and flash attention, as llama-server arguments. */
export const SERVER_ARGS_DEFAULT_TEXT = '-c 8192 -fa on';

/** llama-server's arguments as typed in the input box ("-c 16384 -np 2 -ctk q8_0 -ctv q8_0"): the split list, or what is wrong. */
export function parseServerArgsText(text: string): { args: string[] } | { error: string } {
  const split = splitCommandLine(text);
  if (!split.ok) return { error: `The arguments cannot be split: ${split.error}.` };
  const parsed = parseLlamaServerArgs(split.args);
  if (!parsed.ok) return { error: parsed.error };
  return { args: split.args };
}
