/**
 * Fit advice applied to a task: the suggestion's flags written into llama-server's arguments (each
 * replacing the same option however it was spelled), or its variables into Ollama's environment.
 * Pure: the caller shows the change, asks, and writes tasks.json.
 */
import type { FitSuggestion, ServerFlavour } from './fit-advice.ts';
import { optionOf } from './server-args.ts';

/** The arguments with each of `flags` set: "-c 4096 -ctk q8_0" replaces `--ctx-size 8192` and adds `-ctk q8_0`. */
export function argsWithFlags(args: readonly string[], flags: string): string[] {
  const wanted = flags.split(/\s+/).filter(Boolean);
  const out = [...args];
  for (let i = 0; i < wanted.length; i++) {
    const flag = wanted[i] as string;
    const option = optionOf(flag);
    const takes = option?.value ?? (wanted[i + 1] !== undefined && !wanted[i + 1]?.startsWith('-'));
    const value = takes ? wanted[++i] : undefined;
    const names = option?.names ?? [flag];
    // Drop every earlier spelling of the option ("-c 8192", "--ctx-size=8192"), then append the new one.
    for (let j = 0; j < out.length; ) {
      const a = out[j] as string;
      const eq = a.indexOf('=');
      const head = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
      if (!names.includes(head)) {
        j++;
        continue;
      }
      out.splice(j, takes && eq < 0 ? 2 : 1);
    }
    out.push(flag, ...(value === undefined ? [] : [value]));
  }
  return out;
}

/** The environment with the suggestion's variables set ("OLLAMA_CONTEXT_LENGTH=12288 OLLAMA_KV_CACHE_TYPE=q8_0"). */
export function envWithVariables(env: Readonly<Record<string, string>>, flags: string): Record<string, string> {
  const out = { ...env };
  for (const pair of flags.split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** What applying a suggestion changes in a task's definition (its `args` or its `env`). */
export type TaskChange = { field: 'args'; value: string[] } | { field: 'env'; value: Record<string, string> };

export function taskChange(definition: { args?: unknown; env?: unknown }, flavour: ServerFlavour, suggestion: Pick<FitSuggestion, 'flags'>): TaskChange {
  if (flavour === 'ollama') {
    const env = definition.env && typeof definition.env === 'object' && !Array.isArray(definition.env) ? (definition.env as Record<string, string>) : {};
    return { field: 'env', value: envWithVariables(env, suggestion.flags) };
  }
  const args = Array.isArray(definition.args) ? definition.args.filter((a): a is string => typeof a === 'string') : [];
  return { field: 'args', value: argsWithFlags(args, suggestion.flags) };
}
