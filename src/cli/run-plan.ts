/**
 * `vram-guard run`'s command line: the options before `--` (the need, the GPU, --wait, --restart,
 * --exclusive, the cascade rule) checked before anything runs, and the command after it.
 */
import { parseDuration } from '../core/duration.ts';
import { splitCommandLine } from '../core/estimate/server-args.ts';
import { type CascadeRule, DEFAULT_CASCADE_RULE } from '../core/servers/cascade-detector.ts';
import { parseSize } from '../core/units.ts';
import { parseArgs, stringFlag, UsageError, type ParsedArgs } from './args.ts';
import { GPU_VALUE_FLAGS } from './gpu-options.ts';

const VALUES = ['need', 'model', 'args', 'gpu', 'wait', 'margin', 'cascade-rate', 'cascade-seconds', 'restart', 'max-restarts', ...GPU_VALUE_FLAGS] as const;
const BOOLEANS = ['help', 'exclusive'] as const;
const MAX_WAIT_MS = 24 * 3_600_000;
export interface RunPlan {
  command: string[];
  gpu: number;
  waitMs: number;
  needsBytes: number | null;
  model: string | null;
  /** llama-server's arguments to size from: --args, or the command's own. */
  sizeArgs: string[] | null;
  cascade: CascadeRule;
  exclusive: boolean;
  restart: boolean;
  maxRestartsPerHour: number;
}

function wholeFlag(parsed: ParsedArgs, name: string, fallback: number, max: number): number {
  const text = stringFlag(parsed, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new UsageError(`--${name} needs a whole number from 1 to ${max}, not "${text}"`);
  return Number(text);
}

export function parsePlan(args: string[]): { plan: RunPlan; parsed: ParsedArgs } | 'help' {
  const sep = args.indexOf('--');
  const options = sep < 0 ? args : args.slice(0, sep);
  if (options.includes('--help') || options.includes('-h')) return 'help';
  if (sep < 0) throw new UsageError('put the command after "--": vram-guard run [options] -- CMD ARGS…');
  const command = args.slice(sep + 1);
  if (!command.length || !command[0]) throw new UsageError('there is no command after "--"');
  const parsed = parseArgs(options, { booleans: BOOLEANS, values: VALUES, rawValues: ['args'] });
  if (parsed.positional.length) throw new UsageError(`unexpected argument "${parsed.positional[0]}" before "--"`);
  const need = stringFlag(parsed, 'need');
  const model = stringFlag(parsed, 'model') ?? null;
  const argsText = stringFlag(parsed, 'args');
  if (need !== undefined && model !== null) throw new UsageError('give either --need or --model, not both');
  if (argsText !== undefined && model === null) throw new UsageError('--args only applies with --model');
  let needsBytes: number | null = null;
  if (need !== undefined) {
    const spec = parseSize(need);
    if ('error' in spec) throw new UsageError(`--need: ${spec.error}`);
    if (spec.kind === 'percent') throw new UsageError('--need must be a size such as 6GiB, not a percentage');
    needsBytes = spec.bytes;
  }
  let sizeArgs: string[] | null = null;
  if (argsText !== undefined) {
    const split = splitCommandLine(argsText);
    if (!split.ok) throw new UsageError(`--args: ${split.error}`);
    sizeArgs = split.args;
  }
  const gpuText = stringFlag(parsed, 'gpu') ?? '0';
  if (!/^\d+$/.test(gpuText) || Number(gpuText) > 63) throw new UsageError(`--gpu needs a GPU index from 0 to 63, not "${gpuText}"`);
  let waitMs = 0;
  const waitText = stringFlag(parsed, 'wait');
  if (waitText !== undefined) {
    const d = parseDuration(waitText);
    if ('error' in d) throw new UsageError(`--wait: ${d.error}`);
    if (d.ms > MAX_WAIT_MS) throw new UsageError('--wait is at most 24h');
    waitMs = d.ms;
  }
  const cascade = {
    perSecond: wholeFlag(parsed, 'cascade-rate', DEFAULT_CASCADE_RULE.perSecond, 100_000),
    seconds: wholeFlag(parsed, 'cascade-seconds', DEFAULT_CASCADE_RULE.seconds, 3600),
  };
  const restartText = stringFlag(parsed, 'restart') ?? 'no';
  if (restartText !== 'no' && restartText !== 'on-failure') throw new UsageError(`--restart must be on-failure or no, not "${restartText}"`);
  const maxRestartsPerHour = wholeFlag(parsed, 'max-restarts', 10, 1000);
  if (parsed.flags.has('max-restarts') && restartText !== 'on-failure') throw new UsageError('--max-restarts only applies with --restart on-failure');
  return {
    plan: {
      command,
      gpu: Number(gpuText),
      waitMs,
      needsBytes,
      model,
      sizeArgs,
      cascade,
      exclusive: parsed.flags.has('exclusive'),
      restart: restartText === 'on-failure',
      maxRestartsPerHour,
    },
    parsed,
  };
}
