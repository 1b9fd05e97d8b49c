/**
 * The pre-flight's and the budget spike's verdicts as notifications of one line (see
 * report/one-line.ts): beside the checks whose reports they read, so the reports stay below them.
 */
import { formatGiB } from '../units.ts';
import { levelLabel } from '../watch/levels.ts';
import { dataNumber, firstSentence, sentence } from '../report/line-text.ts';
import type { PreflightReport } from './preflight.ts';
import type { SpikeReport } from './spike.ts';

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
