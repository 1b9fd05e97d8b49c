/**
 * Notifications of one line: each says, in one sentence under MAX_LINE characters, what happened and
 * the figure that matters ("Not started: llama needs 6.0 GiB, 0.4 GiB is free (5.6 GiB short).").
 * The full report goes to a view the user opens ("Show details"). Pure: no `vscode`, tested in Node.
 */
import type { CheckResult } from '../check-result.ts';
import type { PreflightReport } from '../checks/preflight.ts';
import type { SpikeReport } from '../checks/spike.ts';
import { errorMessage } from '../errors.ts';
import { formatGiB, percentOf } from '../units.ts';
import type { LevelTransition } from '../watch/classifier.ts';
import { levelLabel, type Level } from '../watch/levels.ts';
import { clip, dataNumber, firstSentence, MAX_LINE, sentence } from './line-text.ts';

export { clip, firstSentence, gateRefusalLine, MAX_LINE } from './line-text.ts';

/** A GPU's level rose: the level and the memory used. */
export function levelAlertLine(t: Pick<LevelTransition, 'gpu' | 'to' | 'usedBytes' | 'totalBytes'>): string {
  const pct = percentOf(t.usedBytes, t.totalBytes).toFixed(0);
  const risk = t.to === 'ok' ? '' : t.to === 'warning' ? ' — little room for another model' : ' — a server that allocates more may fail';
  return `GPU ${t.gpu} is at ${levelLabel(t.to)}: ${formatGiB(t.usedBytes)} of ${formatGiB(t.totalBytes)} used (${pct}%)${risk}.`;
}

/** A pre-flight check's verdict: does the need fit, in GiB; else the worst check's first sentence. */
export function preflightLine(report: PreflightReport): string {
  const gpu = report.gpu;
  const warnings = report.checks.filter((c) => c.status === 'warn').length;
  const more = warnings ? `; ${warnings} warning${warnings === 1 ? '' : 's'} in the details` : '';
  if (report.verdict === 'unavailable' || !gpu) {
    const first = report.checks.find((c) => c.status === 'fail' || c.status === 'unavailable') ?? report.checks[0];
    const head = report.verdict === 'fail' ? 'Pre-flight failed: ' : 'Pre-flight not checked: ';
    return sentence(head, first ? firstSentence(first.detail) : 'no GPU figures');
  }
  const free = report.checks.find((c) => c.id === 'preflight.free');
  const freeBytes = dataNumber(free, 'freeBytes') ?? gpu.freeBytes;
  const need = report.needBytes;
  const on = `GPU ${gpu.index}`;
  if (report.verdict === 'fail') {
    if (need !== null && free?.status === 'fail')
      return `Pre-flight failed: ${formatGiB(need)} needed, ${formatGiB(freeBytes)} free on ${on} (${formatGiB(need - freeBytes)} short).`;
    const level = report.checks.find((c) => c.id === 'preflight.level' && c.status === 'fail');
    if (level && report.projectedLevel && need !== null)
      return `Pre-flight failed: ${formatGiB(need)} more would take ${on} to ${levelLabel(report.projectedLevel)} (${formatGiB(gpu.usedBytes + need)} of ${formatGiB(gpu.totalBytes)}).`;
    const failed = report.checks.find((c) => c.status === 'fail');
    return sentence('Pre-flight failed: ', failed ? firstSentence(failed.detail) : 'a check failed');
  }
  const head = report.verdict === 'warn' ? 'Pre-flight passed with warnings' : 'Pre-flight passed';
  if (need === null)
    return `${head}: ${on} has ${formatGiB(gpu.freeBytes)} free of ${formatGiB(gpu.totalBytes)}, ${levelLabel(report.projectedLevel ?? 'ok')}${more}.`;
  if (free?.status === 'warn')
    return `Pre-flight: ${formatGiB(need)} fits in ${formatGiB(freeBytes)} free on ${on}, but inside the ${formatGiB(report.marginBytes ?? 0)} margin${more}.`;
  return `${head}: ${formatGiB(need)} fits in ${formatGiB(freeBytes)} free on ${on}${more}.`;
}

/** The budget spike's decision: GO or NO-GO, the peak and how far it is from WARNING. */
export function spikeVerdictLine(report: SpikeReport): string {
  const d = report.decision;
  if (report.status !== 'complete' || !d || !report.peak)
    return sentence(`Budget spike incomplete (${report.status}): `, firstSentence(report.problem ?? 'no peak was measured'));
  const where = d.marginBytes >= 0 ? `${formatGiB(d.marginBytes)} below` : `${formatGiB(-d.marginBytes)} above`;
  return `Budget spike ${d.verdict}: peak ${formatGiB(report.peak.usedBytes)}, ${where} WARNING (${formatGiB(d.warningBytes)}).`;
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
