/**
 * `vram-guard fallback`: the fallback chain from a shell, over the same core as the editor's
 * "Run Fallback Chain (dry run)" and "Run Fallback Step…". The chain comes from --chain (a JSON
 * list of steps, or a settings.json holding "vramGuard.fallbackChain"), else the default chain.
 * --dry-run says what each step would do now; --step N runs one step, only with --yes.
 */
import { readFile } from 'node:fs/promises';
import { readingsOf, FallbackChain } from '../core/fallback/chain.ts';
import { eventText } from '../core/fallback/events.ts';
import { dryRunMarkdown } from '../core/fallback/report.ts';
import { OutsideServerExecutor } from '../core/fallback/outside-executor.ts';
import { gpuProcesses } from '../core/fallback/outside-processes.ts';
import { ServerExecutor } from '../core/fallback/server-executor.ts';
import { ProcessRecogniser } from '../core/servers/recognition/recogniser.ts';
import { DEFAULT_CHAIN_SETTING, FALLBACK_MODES, parseSteps, type FallbackMode, type FallbackStep } from '../core/servers/fallback-steps.ts';
import { ServerRegistry } from '../core/servers/server-registry.ts';
import { rawLevel } from '../core/watch/classifier.ts';
import { resolveThresholds } from '../core/watch/thresholds.ts';
import type { WatchedSample } from '../core/watch/watcher.ts';
import { parseCommand, stringFlag, UsageError } from './args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions } from './gpu-options.ts';
import type { CliIo } from './io.ts';
import { EXIT_NO_SOURCE } from './gpu-options.ts';
import { errorMessage } from '../core/errors.ts';
import { MiB } from '../core/units.ts';

/** A chain file may be at most this big. */
const MAX_CHAIN_FILE_BYTES = MiB;

export const FALLBACK_EXIT = { done: 0, failed: 1, noSource: 2, notConfirmed: 3 } as const;

export const FALLBACK_HELP = `vram-guard fallback (--dry-run | --step N [--yes]) [--chain FILE] [--mode MODE] [--json] [options]

The fallback chain over one sample of the GPU: what each step would do now, or one step run by hand.
From a shell there are no vram-guard tasks running, so server steps find nothing to act on; command
steps run as given (the chain file is yours).

  --dry-run                       say what each step would do now; nothing is done
  --step N                        run step N (1 is the first) on the GPU now, whatever its trigger
  --yes                           really run the --step (without it, only what it would do is shown)
  --chain FILE                    the steps: a JSON list, or a settings.json with "vramGuard.fallbackChain"
  --mode auto|confirm|manual      the mode of steps that set none (default confirm)
  --gpu N                         the GPU (default: every GPU for --dry-run, 0 for --step)
  --settle-timeout SECONDS        after a step, wait this long for memory to stop falling (default 10)
  --json                          print JSON instead of text
${GPU_OPTIONS_HELP}

Exit codes: 0 done (or the dry run printed), 1 the step failed or did nothing, 2 no GPU source,
            3 --step without --yes (nothing run), 64 wrong usage.`;

const BOOLEANS = ['dry-run', 'yes', 'json', 'help'] as const;
const VALUES = ['step', 'chain', 'mode', 'gpu', 'settle-timeout', ...GPU_VALUE_FLAGS] as const;

export async function runFallbackCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(args, { booleans: BOOLEANS, values: VALUES, help: FALLBACK_HELP }, io);
  if (!parsed) return 0;
  const dryRun = parsed.flags.has('dry-run');
  const stepText = stringFlag(parsed, 'step');
  if (dryRun === (stepText !== undefined)) throw new UsageError('give either --dry-run or --step N');
  if (dryRun && parsed.flags.has('yes')) throw new UsageError('--yes goes with --step: a dry run does nothing');
  const mode = (stringFlag(parsed, 'mode') ?? 'confirm') as FallbackMode;
  if (!(FALLBACK_MODES as readonly string[]).includes(mode)) throw new UsageError(`--mode must be one of ${FALLBACK_MODES.join(', ')}, not "${mode}"`);
  const gpuText = stringFlag(parsed, 'gpu');
  const gpu = gpuText === undefined ? null : wholeNumber('gpu', gpuText, 0, 63);
  const settleText = stringFlag(parsed, 'settle-timeout');
  const settleTimeoutMs = settleText === undefined ? 10_000 : wholeNumber('settle-timeout', settleText, 0, 600) * 1000;
  const steps = await readChain(stringFlag(parsed, 'chain'), io);
  const stepIndex = stepText === undefined ? null : wholeNumber('step', stepText, 1, Math.max(1, steps.length)) - 1;
  const options = gpuOptions(parsed, io.env);
  const json = parsed.flags.has('json');

  const opened = await options.probe();
  if (!opened.ok) {
    io.stderr(`vram-guard: no GPU source available: ${opened.reason}\n`);
    return EXIT_NO_SOURCE;
  }
  const source = opened.source;
  const recogniser = new ProcessRecogniser();
  try {
    const sample = await source.sample(Date.now());
    const watched = watchedSample(sample, options.thresholds);
    const readings = readingsOf(watched).filter((r) => gpu === null || r.gpu === gpu);
    const [reading] = readings;
    if (reading === undefined) {
      io.stderr(`vram-guard fallback: ${gpu === null ? 'no GPU has memory figures' : `GPU ${gpu} has no memory figures (or does not exist)`}\n`);
      return FALLBACK_EXIT.failed;
    }
    const chain = new FallbackChain({
      steps: () => steps,
      mode: () => mode,
      // From a shell the person running it chose the chain file: its commands may run, and its steps
      // act on the servers VRAM Guard did not start (no task runs here: those are all of them).
      executor: new OutsideServerExecutor({
        managed: new ServerExecutor({ registry: new ServerRegistry(), isTrusted: () => true }),
        processes: gpuProcesses(() => sample, recogniser),
        isTrusted: () => true,
      }),
      readUsed: async (index) => (await source.sample(Date.now())).devices.find((d) => d.index === index)?.memory?.used ?? null,
      confirm: async () => false,
      settleTimeoutMs,
    });
    if (stepIndex === null) {
      const events = (await chain.dryRun(watched)).filter((e) => gpu === null || e.gpu === gpu);
      io.stdout(json ? `${JSON.stringify({ dryRun: true, events }, null, 2)}\n` : `${dryRunMarkdown(events, new Date(sample.timestamp))}\n`);
      return FALLBACK_EXIT.done;
    }
    const step = steps[stepIndex];
    if (!step) throw new UsageError(`there is no step ${stepIndex + 1}`);
    if (!parsed.flags.has('yes')) {
      const plan = (await chain.dryRun(watched)).find((e) => e.step === stepIndex && e.gpu === reading.gpu);
      const what = `step ${stepIndex + 1} (${step.label}) on GPU ${reading.gpu}: ${plan?.message ?? 'no plan'}`;
      io.stdout(json ? `${JSON.stringify({ ran: false, event: plan ?? null }, null, 2)}\n` : `Not run (add --yes to run it): ${what}\n`);
      return FALLBACK_EXIT.notConfirmed;
    }
    const event = await chain.runStep(stepIndex, reading);
    if (!event) throw new UsageError(`there is no step ${stepIndex + 1}`);
    io.stdout(json ? `${JSON.stringify({ ran: true, event }, null, 2)}\n` : `${eventText(event)}\n`);
    return event.result === 'done' ? FALLBACK_EXIT.done : FALLBACK_EXIT.failed;
  } finally {
    recogniser.dispose();
    await source.dispose();
  }
}

/** The watcher's view of one sample: each device's level and thresholds. */
function watchedSample(sample: WatchedSample['sample'], spec: ReturnType<typeof gpuOptions>['thresholds']): WatchedSample {
  const thresholds = sample.devices.map((d) => (d.memory ? resolveThresholds(spec, d.memory.total, '--thresholds').thresholds : null));
  const levels = sample.devices.map((d, i) => (d.memory && thresholds[i] ? rawLevel(d.memory.used, thresholds[i]) : 'ok'));
  return { sample, levels, thresholds };
}

async function readChain(path: string | undefined, io: CliIo): Promise<FallbackStep[]> {
  let raw: unknown = DEFAULT_CHAIN_SETTING;
  let where = 'the default chain';
  if (path !== undefined) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new UsageError(`--chain: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if (text.length > MAX_CHAIN_FILE_BYTES) throw new UsageError(`--chain: ${path} is over ${MAX_CHAIN_FILE_BYTES / 1024} KiB: give a list of steps`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`--chain: ${path} is not JSON: ${errorMessage(err)}`);
    }
    raw =
      json && typeof json === 'object' && !Array.isArray(json) && 'vramGuard.fallbackChain' in json
        ? (json as Record<string, unknown>)['vramGuard.fallbackChain']
        : json;
    where = `${path}`;
  }
  const parsed = parseSteps(raw, where);
  for (const problem of parsed.problems) io.stderr(`vram-guard fallback: ${problem}\n`);
  if (!parsed.steps.length) throw new UsageError(`${where} holds no valid step`);
  return parsed.steps;
}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || n < min || n > max) throw new UsageError(`--${name} needs a whole number from ${min} to ${max}, not "${text}"`);
  return n;
}
