/**
 * Asks the user's own llama.cpp what it would fit: `llama-fit-params` (built with llama-server, same
 * options) runs llama.cpp's `--fit` logic on the model and the task's memory settings against the
 * memory the real devices report, and prints the arguments it would use (`-c 16384 -ngl 27`,
 * optionally `-ts 3,1` and `-ot "…"`). The answer is shown beside VRAM Guard's own estimate; when the
 * two disagree by more than the margin the gate warns.
 *
 * It runs an executable, so only in a trusted workspace, and the executable is never chosen by a
 * setting: the one beside the task's llama-server, else the one on PATH. One run is bounded: an
 * argument array, 20 s, 64 KiB of output, killed with its process group on overrun or abort.
 */
import { access, constants, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runBounded } from '../bounded-run.ts';
import { resolveCommand } from '../command-path.ts';
import { formatMiB } from '../units.ts';
import type { LlamaSettings } from './llama-settings.ts';
import type { ModelEstimator } from './model-estimator.ts';

export const FIT_PARAMS_PROGRAM = 'llama-fit-params';
export const FIT_PARAMS_TIMEOUT_MS = 20_000;
export const FIT_PARAMS_MAX_OUTPUT_BYTES = 64 * 1024;

/** What llama.cpp would run with. */
export interface LlamaFitAnswer {
  contextTokens: number;
  /** As llama.cpp prints it: -1 = its default (every layer that fits), -2 and below = all. */
  gpuLayers: number;
  tensorSplit: number[] | null;
  /** The `-ot` patterns it would add, as printed ("blk\\.5\\.ffn_.*=CPU,…"); null when none. */
  overrides: string | null;
  /** The answer's line as printed. */
  flags: string;
}

export type LlamaFitResult = { ok: true; program: string; answer: LlamaFitAnswer } | { ok: false; program: string; reason: string };

const ANSWER = /^-c (\d+) -ngl (-?\d+)(?: -ts (\d+(?:,\d+)*))?(?: -ot "([^"]*)")?$/;

/** The answer line of llama-fit-params' stdout (its last line of that shape); null when there is none. */
export function parseFitAnswer(stdout: string): LlamaFitAnswer | null {
  const lines = stdout.split(/\r?\n/).map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = ANSWER.exec(lines[i] ?? '');
    if (!m) continue;
    return {
      contextTokens: Number(m[1]),
      gpuLayers: Number(m[2]),
      tensorSplit: m[3] ? m[3].split(',').map(Number) : null,
      overrides: m[4] ?? null,
      flags: lines[i] ?? '',
    };
  }
  return null;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The llama-fit-params to ask: the one in the folder of the task's llama-server (the command as the
 * task runs it, resolved on PATH), else the first on PATH; null when there is none.
 */
export async function findFitParams(serverCommand: string | null, pathVar: string | undefined, cwd: string): Promise<string | null> {
  if (serverCommand) {
    const server = await resolveCommand(serverCommand, pathVar, cwd);
    if (server.ok) {
      const beside = join(dirname(server.path), FIT_PARAMS_PROGRAM);
      if (await isExecutableFile(beside)) return beside;
    }
  }
  const onPath = await resolveCommand(FIT_PARAMS_PROGRAM, pathVar, cwd);
  return onPath.ok ? onPath.path : null;
}

/**
 * llama-fit-params' arguments: the model and the memory settings the task gives (the flags the
 * argument parser kept, which llama-fit-params shares with llama-server); variables stay in `env`.
 */
export function fitParamsArgs(modelPath: string, given: readonly string[]): string[] {
  const args = ['-m', modelPath];
  for (const g of given) {
    if (/^[A-Z][A-Z0-9_]*=/.test(g)) continue; // LLAMA_ARG_*: passed in the environment
    const space = g.indexOf(' ');
    const [name, value] = space < 0 ? [g, null] : [g.slice(0, space), g.slice(space + 1)];
    if (name === '-m' || name === '--model') continue;
    args.push(name);
    if (value !== null) args.push(value);
  }
  return args;
}

/** Quotes the last lines of what it printed, for a reason. */
function said(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const tail = lines.slice(-2).join(' / ');
  return tail ? `: "${tail.length > 300 ? `${tail.slice(0, 300)}…` : tail}"` : '';
}

export interface FitParamsRunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  maxOutputBytes?: number;
}

/** Runs llama-fit-params once, bounded, and reads its answer; every failure is a reason, never a throw. */
export async function askLlamaFit(program: string, args: readonly string[], o: FitParamsRunOptions): Promise<LlamaFitResult> {
  const timeoutMs = o.timeoutMs ?? FIT_PARAMS_TIMEOUT_MS;
  const maxOutputBytes = o.maxOutputBytes ?? FIT_PARAMS_MAX_OUTPUT_BYTES;
  const r = await runBounded(program, args, { env: o.env, cwd: o.cwd, signal: o.signal, timeoutMs, maxOutputBytes });
  const fail = (reason: string): LlamaFitResult => ({ ok: false, program, reason });
  switch (r.kind) {
    case 'not-started':
      return fail(`${program} could not be started (${r.code ?? r.message})`);
    case 'timeout':
      return fail(`${program} gave no answer within ${timeoutMs / 1000} s and was killed with its process group`);
    case 'flood':
      return fail(`${program} printed more than ${maxOutputBytes / 1024} KiB and was killed with its process group`);
    case 'aborted':
      return fail(`${program} was stopped: the start was cancelled`);
  }
  if (r.code !== 0) {
    const how = r.code === null ? `was killed by ${r.signal ?? 'a signal'}` : `exited with code ${r.code}`;
    return fail(`${program} ${how}${said(r.stderr || r.stdout)}`);
  }
  const answer = parseFitAnswer(r.stdout);
  if (!answer) return fail(`${program} printed no answer of the form "-c N -ngl N"${said(r.stdout || r.stderr)}`);
  return { ok: true, program, answer };
}

/** The answer's layers as settings: -1 is llama.cpp's default (null), -2 and below all of them. */
function layersSetting(ngl: number): LlamaSettings['gpuLayers'] {
  return ngl === -1 ? null : ngl <= -2 ? 'all' : ngl;
}

export interface FitComparison {
  /** Our estimate at llama.cpp's answer; null when the estimator cannot size it. */
  theirsBytes: number | null;
  oursBytes: number;
  /** They differ by more than the margin. */
  disagree: boolean;
  /** "llama.cpp's own fit: -c 16384 -ngl 27 (4812 MiB by our estimate; ours: -c 32768, 6120 MiB)". */
  line: string;
}

/** Sets llama.cpp's answer beside our plan: our estimate at its settings against our estimate at ours. */
export function compareFit(
  estimator: ModelEstimator,
  ours: { settings: LlamaSettings; totalBytes: number },
  answer: LlamaFitAnswer,
  marginBytes: number,
): FitComparison {
  const at = estimator.estimate({ ...ours.settings, contextTokens: answer.contextTokens, gpuLayers: layersSetting(answer.gpuLayers) });
  const theirsBytes = at.kind === 'estimate' ? at.totalBytes : null;
  const oursFlags = `-c ${ours.settings.contextTokens ?? estimator.trainedContext}${typeof ours.settings.gpuLayers === 'number' ? ` -ngl ${ours.settings.gpuLayers}` : ''}`;
  const disagree = theirsBytes !== null && Math.abs(theirsBytes - ours.totalBytes) > marginBytes;
  const theirs = theirsBytes === null ? 'not sized by our estimate' : `${formatMiB(theirsBytes)} by our estimate`;
  return {
    theirsBytes,
    oursBytes: ours.totalBytes,
    disagree,
    line: `llama.cpp's own fit: ${answer.flags} (${theirs}; ours: ${oursFlags}, ${formatMiB(ours.totalBytes)})`,
  };
}
