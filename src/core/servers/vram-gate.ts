/**
 * The VRAM gate before a model server starts: is there room for what it needs? The full pre-flight
 * (src/core/checks/preflight.ts, through `preflightGate`) is the gate in use; `simpleGate` is the
 * small stand-in — free VRAM ≥ need + margin — for callers without the pre-flight's settings.
 * Either answers with checks and one summary that carries the numbers.
 */
import type { VramEstimate } from '../estimate/estimate-types.ts';
import type { PrintedFootprint } from '../estimate/printed-footprint.ts';
import type { GpuReading } from '../watch/watcher.ts';
import type { CheckResult, CheckStatus } from '../check-result.ts';
import { worstStatus } from '../check-result.ts';
import { formatMiB } from '../units.ts';
import { gateRefusalLine } from '../report/line-text.ts';
import type { FitSuggestion, ServerFlavour } from '../estimate/fit-advice.ts';

/** A GPU reading for the gate: a sample and where it came from, or why there is none. */

export interface GateInput {
  taskName: string;
  gpu: number;
  reading: GpuReading;
  /** Expected VRAM in bytes (the task's `needs`); null when not given. */
  needsBytes: number | null;
  /** A model file to estimate from when `needsBytes` is null. */
  modelPath: string | null;
  /** The context the server will run with, for an estimate; null: the model's default. */
  contextLength: number | null;
  /**
   * How the server will run (kind, arguments after overrides, its own environment, cwd): the estimate
   * reads its settings from it. `command`: the program as the task names it (llama-fit-params is looked
   * for beside it).
   */
  run?: { server: string; args: string[]; env: Record<string, string>; cwd: string | null; command?: string };
  /** How long a reservation made by a passing gate lasts at most (the start timeout plus settling). */
  reserveMs?: number;
}

/** Memory a passing gate reserved until the server's own shows in NVML; released by the caller. */
export interface GateReservation {
  bytes: number;
  /** Names the server's process once it runs (its exit then drops the reservation). */
  attach(serverPid: number): Promise<void>;
  release(): Promise<void>;
}

/** What to remember once the server has settled: the footprint's key and the estimate beside it. */
export interface GateFootprint {
  key: string;
  modelPath: string;
  estimateBytes: number | null;
  settings: string;
  /** The formula's estimate at these settings, part by part, for the server's card; null when there is none. */
  estimate?: VramEstimate | null;
  /** Records NVML's figure for the server's process tree (null: none settled) and what llama.cpp printed about its load. */
  record(measuredBytes: number | null, printed?: PrintedFootprint | null): Promise<void>;
}

/** Bad arguments or no model to estimate: the task ends with this message (it is not a refusal to override). */
export class GateInputError extends Error {}

export interface GateResult {
  /** `fail` refuses the start; the others let it go on. */
  status: CheckStatus;
  /** One paragraph for the terminal and the log: what was found, with the numbers, and what to do. */
  summary: string;
  /** A refusal in one sentence under 160 characters, with the figure that matters: the notification's text. */
  headline?: string;
  /** The pre-flight's full report in Markdown, for "Show details". */
  reportMarkdown?: string;
  /** Settings that would fit, from the estimate (flags for llama-server, variables for Ollama). */
  fitAdvice?: { flavour: ServerFlavour; suggestions: FitSuggestion[] } | null;
  checks: CheckResult[];
  /** What the server is expected to take (its `needs`, or the estimate), to compare once it runs. */
  expectedBytes?: number | null;
  /** Lines worth showing under the verdict: the estimate's parts and what it assumed, what --fit will do, what would fit. */
  details?: string[];
  reservation?: GateReservation | null;
  footprint?: GateFootprint | null;
}

export type VramGate = (input: GateInput) => Promise<GateResult>;

/** The summary of a set of checks: the failing (else warning) ones, detail then advice. */
export function summarize(taskName: string, checks: CheckResult[]): GateResult {
  const status = worstStatus(checks.filter((c) => c.status !== 'unavailable'));
  const worst = checks.filter((c) => c.status === status);
  const shown = status === 'pass' ? checks.filter((c) => c.id.endsWith('free') || c.id.endsWith('vramGate')).slice(0, 1) : worst;
  const text = (shown.length ? shown : checks.slice(0, 1)).map((c) => `${c.detail}${c.advice && status !== 'pass' ? ` ${c.advice}` : ''}`).join(' ');
  const lead = status === 'fail' ? `"${taskName}" was not started. ` : '';
  return {
    status: checks.every((c) => c.status === 'unavailable') ? 'unavailable' : status,
    summary: `${lead}${text}`.trim(),
    ...(status === 'fail' ? { headline: gateRefusalLine(taskName, checks) } : {}),
    checks,
  };
}

/** Free VRAM must cover the need plus `marginBytes`. */
export function simpleGate(marginBytes: number): VramGate {
  return async (input) => {
    const id = 'servers.vramGate';
    const title = `Enough free VRAM for "${input.taskName}"`;
    const one = (status: CheckStatus, detail: string, advice = '', data?: Record<string, unknown>) =>
      summarize(input.taskName, [data ? { id, title, status, detail, advice, data } : { id, title, status, detail, advice }]);
    if (!input.reading.ok)
      return one('unavailable', `The VRAM gate was skipped: ${input.reading.reason}.`, 'The server starts without the check; watch the status bar.');
    const device = input.reading.sample.devices.find((d) => d.index === input.gpu);
    if (!device?.memory)
      return one('unavailable', `The VRAM gate was skipped: GPU ${input.gpu} could not be read${device?.error ? ` (${device.error.code})` : ''}.`);
    const { free, total } = device.memory;
    const needs = input.needsBytes;
    if (needs === null)
      return one(
        'warn',
        `GPU ${input.gpu} has ${formatMiB(free)} free of ${formatMiB(total)}; what "${input.taskName}" needs is unknown.`,
        'Add "needs": "6GiB" to the task so the gate can refuse a start that would not fit.',
      );
    const required = needs + marginBytes;
    const data = { freeBytes: free, totalBytes: total, needsBytes: needs, marginBytes };
    if (free >= required)
      return one('pass', `GPU ${input.gpu} has ${formatMiB(free)} free ≥ ${formatMiB(needs)} needed + ${formatMiB(marginBytes)} margin.`, '', data);
    return one(
      'fail',
      `GPU ${input.gpu} has ${formatMiB(free)} free of ${formatMiB(total)}; "${input.taskName}" needs ${formatMiB(needs)} + ${formatMiB(marginBytes)} margin = ${formatMiB(required)}, ${formatMiB(required - free)} more than is free. Starting it would likely end in CUDA out-of-memory errors.`,
      'Free VRAM first (stop or unload another model server, or run a fallback step), or lower what it needs (a smaller context or model), then run the task again.',
      data,
    );
  };
}
