/**
 * `vram-guard preflight`: is there room on the GPU for a model server, before it starts?
 * Usable as a task's `dependsOn` or in a shell: `vram-guard preflight --need 6GiB && llama-server ...`.
 */
import { DEFAULT_CONTEXT, DEFAULT_KV_CACHE_TYPE, DEFAULT_PARALLEL, estimateGgufFile, KV_CACHE_TYPES, type EstimateOptions, type KvCacheType } from '../core/checks/gguf-estimate.ts';
import { DEFAULT_MARGIN_TEXT, DEFAULT_RESIDUAL_THRESHOLD_TEXT, preflightExitCode, runPreflight, type PreflightNeed } from '../core/checks/preflight.ts';
import { preflightJson, preflightMarkdown } from '../core/checks/preflight-report.ts';
import { parseSize, type SizeSpec } from '../core/units.ts';
import { parseArgs, stringFlag, UsageError, type ParsedArgs } from './args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions } from './gpu-options.ts';
import type { CliIo } from './io.ts';
import { errorMessage } from '../core/errors.ts';
import type { GpuReading } from '../core/watch/watcher.ts';

export const PREFLIGHT_HELP = `vram-guard preflight [--gpu N] [--need 6GiB | --model path.gguf [--ctx 4096] [--parallel 1] [--kv-type f16]]
                    [--margin 1GiB] [--json] [--strict] [--fail-on-warn] [options]

Checks that a model server fits on the GPU before it starts: free VRAM against the need plus a
margin, memory no process accounts for, the level the GPU would reach, persistence mode and the
driver. Without GPU figures (no NVML, no nvidia-smi) it says so and does not block, unless --strict.

  --gpu N                         the GPU to check (default 0)
  --need SIZE                     what the server needs, e.g. 6GiB or 6144MiB
  --model PATH                    estimate the need from a GGUF file: weights + KV cache + compute
  --ctx N                         context length per sequence (default ${DEFAULT_CONTEXT}, Ollama's num_ctx;
                                  for llama-server, -c divided by -np)
  --parallel N                    sequences served at once (-np, OLLAMA_NUM_PARALLEL; default ${DEFAULT_PARALLEL})
  --kv-type T                     KV cache type: ${KV_CACHE_TYPES.join(', ')} (default ${DEFAULT_KV_CACHE_TYPE})
  --flash-attention               the server uses flash attention (smaller compute buffers)
  --margin SIZE                   free VRAM to keep beyond the need (default ${DEFAULT_MARGIN_TEXT}; a % of the total works)
  --residual-threshold SIZE       used memory no process holds, above which to warn (default ${DEFAULT_RESIDUAL_THRESHOLD_TEXT})
  --json                          print JSON instead of Markdown
  --strict                        fail when there are no GPU figures
  --fail-on-warn                  exit 3 when there are warnings but no failure
${GPU_OPTIONS_HELP}

Exit codes: 0 pass (warnings allowed, or no GPU figures without --strict), 1 a check failed,
            3 warnings with --fail-on-warn, 64 wrong usage.`;

const BOOLEANS = ['json', 'strict', 'fail-on-warn', 'flash-attention', 'help'] as const;
const VALUES = ['gpu', 'need', 'model', 'ctx', 'parallel', 'kv-type', 'margin', 'residual-threshold', ...GPU_VALUE_FLAGS] as const;

export async function runPreflightCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, { booleans: BOOLEANS, values: VALUES });
  if (parsed.flags.has('help')) {
    io.stdout(PREFLIGHT_HELP + '\n');
    return 0;
  }
  if (parsed.positional.length) throw new UsageError(`unexpected argument "${parsed.positional[0]}"`);
  const options = gpuOptions(parsed, io.env);
  const gpu = wholeNumber(parsed, 'gpu', 0, 0, 63);
  const margin = sizeFlag(parsed, 'margin', DEFAULT_MARGIN_TEXT, true);
  const residualThreshold = sizeFlag(parsed, 'residual-threshold', DEFAULT_RESIDUAL_THRESHOLD_TEXT, true);
  const needSpec = parseNeed(parsed);

  // Every argument is checked above, before the GPU is opened or the model read.
  const [needValue, gpuFigures] = await Promise.all([resolveNeed(needSpec), sample(options.probe)]);
  const report = runPreflight(gpuFigures, {
    gpu,
    need: needValue,
    margin,
    residualThreshold,
    thresholds: options.thresholds,
    platform: process.platform,
    strict: parsed.flags.has('strict'),
  });
  io.stdout(parsed.flags.has('json') ? JSON.stringify(preflightJson(report), null, 2) + '\n' : preflightMarkdown(report));
  return preflightExitCode(report, parsed.flags.has('fail-on-warn'));
}

async function sample(probe: ReturnType<typeof gpuOptions>['probe']): Promise<GpuReading> {
  const opened = await probe();
  if (!opened.ok) return { ok: false, reason: opened.reason };
  try {
    return { ok: true, sample: await opened.source.sample(Date.now()), description: opened.source.description };
  } catch (err) {
    return { ok: false, reason: `the ${opened.source.kind} source failed to sample: ${errorMessage(err)}` };
  } finally {
    await opened.source.dispose();
  }
}

type NeedSpec = Exclude<PreflightNeed, { kind: 'estimate' }> | { kind: 'model'; path: string; options: EstimateOptions };

function parseNeed(parsed: ParsedArgs): NeedSpec {
  const needText = stringFlag(parsed, 'need');
  const model = stringFlag(parsed, 'model');
  const modelOnly = ['ctx', 'parallel', 'kv-type', 'flash-attention'].filter((f) => parsed.flags.has(f));
  if (needText !== undefined && model !== undefined) throw new UsageError('give either --need or --model, not both');
  if (model === undefined && modelOnly.length) throw new UsageError(`--${modelOnly[0]} only applies with --model`);
  if (needText !== undefined) {
    const spec = parseSizeFlag('need', needText, false);
    return { kind: 'size', bytes: spec.kind === 'bytes' ? spec.bytes : 0, from: '--need' };
  }
  if (model === undefined) return { kind: 'none' };
  const kvType = stringFlag(parsed, 'kv-type') ?? DEFAULT_KV_CACHE_TYPE;
  if (!(KV_CACHE_TYPES as readonly string[]).includes(kvType)) throw new UsageError(`--kv-type must be one of ${KV_CACHE_TYPES.join(', ')}, not "${kvType}"`);
  return {
    kind: 'model',
    path: model,
    options: {
      contextLength: wholeNumber(parsed, 'ctx', DEFAULT_CONTEXT, 1, 16_777_216),
      parallel: wholeNumber(parsed, 'parallel', DEFAULT_PARALLEL, 1, 1024),
      kvCacheType: kvType as KvCacheType,
      flashAttention: parsed.flags.has('flash-attention'),
    },
  };
}

async function resolveNeed(spec: NeedSpec): Promise<PreflightNeed> {
  if (spec.kind !== 'model') return spec;
  return { kind: 'estimate', estimate: await estimateGgufFile(spec.path, spec.options) };
}

function wholeNumber(parsed: ParsedArgs, name: string, fallback: number, min: number, max: number): number {
  const text = stringFlag(parsed, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || n < min || n > max) throw new UsageError(`--${name} needs a whole number from ${min} to ${max}, not "${text}"`);
  return n;
}

function parseSizeFlag(name: string, text: string, percentAllowed: boolean): SizeSpec {
  const spec = parseSize(text);
  if ('error' in spec) throw new UsageError(`--${name}: ${spec.error}`);
  if (spec.kind === 'percent' && !percentAllowed) throw new UsageError(`--${name} must be a size such as 6GiB or 6144MiB, not a percentage`);
  return spec;
}

function sizeFlag(parsed: ParsedArgs, name: string, fallback: string, percentAllowed: boolean): SizeSpec {
  return parseSizeFlag(name, stringFlag(parsed, name) ?? fallback, percentAllowed);
}
