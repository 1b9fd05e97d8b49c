/**
 * Notifications of one line: each says, in one sentence under MAX_LINE characters, what happened and
 * the figure that matters ("Not started: llama needs 6.0 GiB, 0.4 GiB is free (5.6 GiB short).").
 * The full report goes to a view the user opens ("Show details"). Pure: no `vscode`, tested in Node.
 */
import type { CheckResult } from '../check-result.ts';
import { errorMessage } from '../errors.ts';
import { formatGiB, percentOf } from '../units.ts';
import type { LevelTransition } from '../watch/classifier.ts';
import { levelLabel, type Level } from '../watch/levels.ts';
import { clip, firstSentence, MAX_LINE, sentence } from './line-text.ts';

export { clip, firstSentence, gateRefusalLine, MAX_LINE } from './line-text.ts';

/** A GPU's level rose: the level and the memory used. */
export function levelAlertLine(t: Pick<LevelTransition, 'gpu' | 'to' | 'usedBytes' | 'totalBytes'>): string {
  const pct = percentOf(t.usedBytes, t.totalBytes).toFixed(0);
  const risk = t.to === 'ok' ? '' : t.to === 'warning' ? ' — little room for another model' : ' — a server that allocates more may fail';
  return `GPU ${t.gpu} is at ${levelLabel(t.to)}: ${formatGiB(t.usedBytes)} of ${formatGiB(t.totalBytes)} used (${pct}%)${risk}.`;
}

/** A server's output cascaded: the process, the rate, the GPU's level and VRAM then. "CUDA-error cascade in "llama" (PID 4242): 48 errors a second; GPU 0 at CRITICAL, 3.7 GiB of 4.0 GiB used (91%)." */
export function cascadeLine(
  c: { server: string; pid: number | null; gpu: number; cascade: { perSecond: number } },
  at: { level: Level; used: number; total: number } | null,
): string {
  const head = `CUDA-error cascade in "${clip(c.server, 40)}" (PID ${c.pid ?? '?'}): ${c.cascade.perSecond.toFixed(0)} errors a second`;
  if (!at) return `${head}; GPU ${c.gpu} not read.`;
  return `${head}; GPU ${c.gpu} at ${levelLabel(at.level)}, ${formatGiB(at.used)} of ${formatGiB(at.total)} used (${percentOf(at.used, at.total).toFixed(0)}%).`;
}

/** A GPU of the fleet turned CRITICAL or worse: "gpu-box-2 GPU 1 (RTX 4090) is CRITICAL at 22.1 GiB of 24.0 GiB (92%)." */
export function fleetCriticalLine(t: { host: string; gpu: number; name: string | null; level: Level; usedBytes: number; totalBytes: number }): string {
  const who = `${clip(t.host, 40)} GPU ${t.gpu}${t.name ? ` (${clip(t.name, 32)})` : ''}`;
  return `${who} is ${levelLabel(t.level)} at ${formatGiB(t.usedBytes)} of ${formatGiB(t.totalBytes)} (${percentOf(t.usedBytes, t.totalBytes).toFixed(0)}%).`;
}

/** The echo-cancellation check cannot run here: why, in a few words. */
export function aecUnavailableLine(checks: readonly CheckResult[]): string {
  const c = checks.find((x) => x.status === 'unavailable') ?? checks[0];
  const reason = firstSentence((c?.detail ?? '').replace(/^Not available here:\s*/i, ''))
    .replace(/\s*\(.*$/, '')
    .replace(/,\s*so\b.*$/, '');
  return sentence('Echo cancellation cannot be checked here: ', reason || 'no PipeWire server answers');
}

/** Something could not be done: what, and the error's first sentence. */
export function errorLine(what: string, err: unknown): string {
  return sentence(`${clip(what, 60)} failed: `, firstSentence(errorMessage(err)));
}

/** Any text as a notification line: its first sentence, under MAX_LINE characters. */
export function notificationLine(text: string): string {
  return sentence(firstSentence(text));
}

/** A `confirm` fallback step asks: the GPU's level and use, and the step. "GPU 0 is at CRITICAL (7.4 GiB of 8.0 GiB): run step 1, unload the model?" */
export function fallbackConfirmLine(r: { gpu: number; level: Level; used: number; total: number }, stepIndex: number, description: string): string {
  const head = `GPU ${r.gpu} is at ${levelLabel(r.level)} (${formatGiB(r.used)} of ${formatGiB(r.total)}): run fallback step ${stepIndex + 1}, `;
  return `${head}${clip(description.replace(/[.?]$/, ''), MAX_LINE - 3 - head.length)}?`;
}

/** A fallback step ran: its result and what it did to used VRAM. "Fallback step 1 done: GPU 0 went from 7.4 GiB to 5.0 GiB used." */
export function fallbackResultLine(e: { step: number; result: string; message: string; gpu: number; usedBefore: number; usedAfter: number | null }): string {
  if (e.usedAfter !== null && e.result === 'done')
    return `Fallback step ${e.step + 1} done: GPU ${e.gpu} went from ${formatGiB(e.usedBefore)} to ${formatGiB(e.usedAfter)} used.`;
  return sentence(`Fallback step ${e.step + 1} ${e.result}: `, firstSentence(e.message));
}

/** Settings that could not be used: the one problem when it is short, else which settings, for the details. */
export function settingsProblemsLine(problems: readonly string[]): string {
  const only = problems.length === 1 ? problems[0] : undefined;
  if (only !== undefined && only.length < MAX_LINE) return only;
  const names = [...new Set(problems.map((p) => /^(vramGuard\.[\w.]+)/.exec(p)?.[1]).filter((n): n is string => !!n))];
  const count = problems.length === 1 ? 'A setting has a problem' : `${problems.length} settings have problems`;
  return sentence(`${count} (the details say what is used instead): `, names.join(', ') || firstSentence(problems[0] ?? ''));
}
