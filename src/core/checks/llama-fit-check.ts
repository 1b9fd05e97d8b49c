/**
 * The pre-flight's "llama.cpp's own fit" check: the task's llama-fit-params asked with the task's
 * model and memory settings, its answer set beside our plan. Agreement passes; a difference of more
 * than the margin warns (one of the two sizes this model wrongly); an answer that could not be had
 * is unavailable, with the reason. No check at all when there is no llama-fit-params to ask, or the
 * task turns --fit off.
 */
import type { CheckResult } from '../check-result.ts';
import { askLlamaFit, compareFit, findFitParams, fitParamsArgs } from '../estimate/llama-fit-params.ts';
import type { ModelReport, PreflightReport } from './preflight.ts';
import { formatMiB } from '../units.ts';

export const LLAMA_FIT_CHECK_ID = 'preflight.llamaFit';
const TITLE = "llama.cpp's own fit";

export interface LlamaFitCheckInput {
  model: ModelReport;
  /** The task's llama-server as its command names it (a path, or a name on PATH). */
  serverCommand: string | null;
  env: NodeJS.ProcessEnv;
  cwd: string | null;
  /** The margin the gate keeps; null without GPU figures (the answer is then shown, not judged). */
  marginBytes: number | null;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export async function llamaFitCheck(i: LlamaFitCheckInput): Promise<CheckResult | null> {
  const { estimator } = i.model.need;
  const plan = i.model.plan;
  // --fit off: the server will not fit anything, so llama.cpp's fit says nothing about what it takes.
  if (!estimator || !plan || i.model.need.settings.fit === false) return null;
  const cwd = i.cwd ?? process.cwd();
  const program = await findFitParams(i.serverCommand, i.env.PATH, cwd);
  if (!program) return null;
  const r = await askLlamaFit(program, fitParamsArgs(i.model.need.modelPath, i.model.need.given), {
    env: i.env,
    cwd,
    signal: i.signal,
    timeoutMs: i.timeoutMs,
  });
  if (!r.ok) return { id: LLAMA_FIT_CHECK_ID, title: TITLE, status: 'unavailable', detail: `No answer from llama.cpp: ${r.reason}.`, advice: '' };
  const c = compareFit(estimator, { settings: plan.settings, totalBytes: plan.estimate.totalBytes }, r.answer, i.marginBytes ?? Number.POSITIVE_INFINITY);
  const data = { flags: r.answer.flags, program, theirsBytes: c.theirsBytes, oursBytes: c.oursBytes };
  if (!c.disagree) return { id: LLAMA_FIT_CHECK_ID, title: TITLE, status: 'pass', detail: `${c.line}.`, advice: '', data };
  const gap = Math.abs((c.theirsBytes ?? 0) - c.oursBytes);
  return {
    id: LLAMA_FIT_CHECK_ID,
    title: TITLE,
    status: 'warn',
    detail: `${c.line}: the two differ by ${formatMiB(gap)}, more than the ${formatMiB(i.marginBytes ?? 0)} margin.`,
    advice:
      'llama.cpp sizes for the devices its build sees, VRAM Guard for what NVML reports: give -c and -ngl yourself, and compare with the buffers the server prints when it loads (-v).',
    data,
  };
}

/** Adds the check to a report that has a model (a warning makes a passing verdict a warning); does nothing without an answer to show. */
export async function addLlamaFitCheck(report: PreflightReport, i: Omit<LlamaFitCheckInput, 'model' | 'marginBytes'>): Promise<void> {
  if (!report.model) return;
  const fit = await llamaFitCheck({ ...i, model: report.model, marginBytes: report.marginBytes });
  if (!fit) return;
  report.checks.push(fit);
  if (fit.status === 'warn' && report.verdict === 'pass') report.verdict = 'warn';
}
