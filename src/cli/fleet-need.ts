/**
 * The need of `vram-guard fleet --model F.gguf --args "…"`: the estimate for llama-server with those
 * arguments (split as a command line, parsed as llama-server parses them). One function, so the
 * estimate behind it can be re-pointed without touching the fleet command.
 */
import { describeParts } from '../core/estimate/estimate-text.ts';
import { splitCommandLine } from '../core/estimate/server-args.ts';
import { resolveModelNeed } from '../core/estimate/server-need.ts';
import { GGUF_SIZING } from '../core/servers/kinds/index.ts';
import { UsageError } from './args.ts';

export interface ModelNeed {
  bytes: number;
  /** How the figure was made, in one line. */
  description: string;
}

export async function modelNeed(path: string, argsText: string, env: NodeJS.ProcessEnv = {}): Promise<ModelNeed> {
  const split = splitCommandLine(argsText);
  if (!split.ok) throw new UsageError(`--args: ${split.error}`);
  const r = await resolveModelNeed({
    server: GGUF_SIZING.flavour,
    args: split.args,
    env,
    cwd: process.cwd(),
    model: path,
    from: '--args',
    totalVramBytes: null,
  });
  if (!r.ok) throw new UsageError(`--model: ${r.error}`);
  const estimate = r.need.estimate;
  if (estimate.kind !== 'estimate') throw new UsageError(`--model: ${estimate.reason} Give the need with --need instead.`);
  return { bytes: estimate.totalBytes, description: describeParts(estimate.parts) };
}
