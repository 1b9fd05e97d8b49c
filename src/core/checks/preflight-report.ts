/**
 * The pre-flight report as Markdown (the CLI's output and the editor's result view) and as JSON
 * (a stable shape for scripts).
 */
import { CHECK_STATUS_LABEL, type CheckResult } from '../check-result.ts';
import { describeAssumptions, estimateParts } from '../estimate/estimate-text.ts';
import type { PreflightReport, PreflightVerdict } from './preflight.ts';
import { formatMiB } from '../units.ts';
import { markdownCell } from '../report/markdown.ts';
import type { VramEstimate } from '../estimate/estimate-types.ts';
import { type PrintedBreakdown, type PrintedFootprint, partRows, printedDate, printedTotal } from '../estimate/printed-footprint.ts';

const VERDICT_TEXT: Record<PreflightVerdict, string> = {
  pass: 'PASS: there is room for it.',
  warn: 'WARN: it should start, but read the warnings.',
  fail: 'FAIL: do not start it as it is.',
  unavailable: 'NOT CHECKED: no GPU figures; the start is not blocked.',
};

const VERDICT_WORD: Record<PreflightVerdict, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', unavailable: 'NOT CHECKED' };

/** One line for a notification or a log: "FAIL: Free VRAM for the need: 500 MiB free < 6144 MiB needed ..." */
export function preflightSummary(report: PreflightReport): string {
  const worst = report.checks.find((c) => c.status === 'fail') ?? report.checks.find((c) => c.status === 'warn');
  const head = VERDICT_WORD[report.verdict];
  if (worst) return `${head}: ${worst.title}: ${worst.detail}`;
  if (report.verdict === 'unavailable') return `${head}: ${report.checks[0]?.detail ?? 'no GPU figures.'}`;
  const free = report.checks.find((c) => c.id === 'preflight.free');
  return `${head}: ${free?.detail ?? 'every check passed.'}`;
}

export function preflightMarkdown(report: PreflightReport): string {
  const lines = ['# VRAM Guard pre-flight check', '', `**${VERDICT_TEXT[report.verdict]}**`, ''];
  const g = report.gpu;
  if (g) lines.push(`- GPU ${g.index}: ${g.name ?? 'unknown'} — ${formatMiB(g.usedBytes)} used, ${formatMiB(g.freeBytes)} free of ${formatMiB(g.totalBytes)}`);
  const from =
    report.needFrom === 'estimate'
      ? 'estimated from the model'
      : report.needFrom === 'measured'
        ? 'measured before, same file and settings'
        : `from ${report.needFrom}`;
  if (report.needBytes !== null)
    lines.push(`- Need: ${formatMiB(report.needBytes)} (${from})${report.marginBytes === null ? '' : ` + margin ${formatMiB(report.marginBytes)}`}`);
  else lines.push('- Need: not given');
  if (report.reservedBytes > 0)
    lines.push(`- Reserved by servers starting (counted as used): ${report.reservations.map((r) => `"${r.owner}" ${formatMiB(r.bytes)}`).join(', ')}`);
  const m = report.model;
  if (m) {
    lines.push(`- Model: ${m.need.estimator?.label ?? m.need.modelPath}`);
    lines.push(`- Settings from ${m.need.from}: ${m.need.given.length ? m.need.given.map((g) => `\`${g}\``).join(' ') : 'none that change memory'}`);
    for (const n of m.need.notes) lines.push(`- ${n.charAt(0).toUpperCase()}${n.slice(1)}`);
    const plan = m.plan;
    const e = plan?.estimate;
    if (plan && e) {
      lines.push(`- Assumed: ${describeAssumptions(e.assumptions)}`);
      if (plan.note) lines.push(`- ${plan.takesAllFree ? '⚠️ ' : ''}${plan.note}`);
      lines.push('', '| Part | Size |', '|---|---:|');
      for (const p of estimateParts(e.parts)) lines.push(`| ${p.name.charAt(0).toUpperCase()}${p.name.slice(1)} | ${formatMiB(p.bytes)} |`);
      lines.push(`| **Estimated total** | **${formatMiB(e.totalBytes)}** |`);
      if (m.measured && m.measured.measuredBytes !== null)
        lines.push(
          `| **Measured on ${m.measured.measuredAt.slice(0, 16).replace('T', ' ')} (NVML; estimate was ${formatMiB(m.measured.estimateBytes ?? e.totalBytes)})** | **${formatMiB(m.measured.measuredBytes)}** |`,
        );
      const printed = m.measured?.printed;
      if (printed && m.need.estimate.kind === 'estimate') lines.push('', ...printedPartsMarkdown(m.need.estimate, printed, m.measured?.measuredBytes ?? null));
    } else {
      lines.push(`- No estimate: ${m.need.estimate.kind === 'none' ? m.need.estimate.reason : 'the model could not be read.'}`);
    }
    if (m.advice.length && m.adviceBudgetBytes !== null) {
      lines.push(
        '',
        `**What would fit** in ${formatMiB(m.adviceBudgetBytes)} (free less the margin, below CRITICAL):`,
        '',
        '| Change | Flags | New total |',
        '|---|---|---:|',
      );
      for (const a of m.advice) lines.push(`| ${markdownCell(a.title)} | \`${markdownCell(a.flags)}\` | ${formatMiB(a.totalBytes)} |`);
    }
  }
  lines.push('', '| Check | Result | Detail | What to do |', '|---|---|---|---|');
  for (const c of report.checks)
    lines.push(`| ${markdownCell(c.title)} | ${CHECK_STATUS_LABEL[c.status]} | ${markdownCell(c.detail)} | ${markdownCell(c.advice)} |`);
  return `${lines.join('\n')}\n`;
}

/** Per part: the formula's estimate, what llama.cpp printed (on the GPU), and NVML's measured total. */
function printedPartsMarkdown(formula: VramEstimate, printed: PrintedFootprint, measuredBytes: number | null): string[] {
  const out = [
    `**llama.cpp's own report of ${printedDate(printed)}** (same file and settings; the estimate above uses it):`,
    '',
    '| Part | Estimate | Printed | Measured |',
    '|---|---:|---:|---:|',
  ];
  const mib = (b: number | null) => (b === null ? '—' : formatMiB(b));
  for (const r of partRows(formula, printed))
    out.push(`| ${r.part.charAt(0).toUpperCase()}${r.part.slice(1)} | ${mib(r.estimateBytes)} | ${mib(r.printedBytes)} | |`);
  out.push(`| **Total** | **${formatMiB(formula.totalBytes)}** | **${formatMiB(printedTotal(printed))}** | **${mib(measuredBytes)}** |`);
  out.push('', "Printed: the buffers llama.cpp put on GPUs; Measured: NVML, the server's whole process tree (the CUDA context included).");
  if (printed.breakdown) out.push('', ...breakdownMarkdown(printed.breakdown));
  return out;
}

/** llama.cpp's memory breakdown table as the server stopped: per device (and the host), what it took. */
function breakdownMarkdown(b: PrintedBreakdown): string[] {
  const out = [
    `**llama.cpp's memory breakdown as the server stopped** (${b.printedAt.slice(0, 16).replace('T', ' ')}):`,
    '',
    '| Memory | Self | Model | Context | Compute |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of b.rows)
    out.push(
      `| ${markdownCell(r.name)} | ${formatMiB(r.selfBytes)} | ${formatMiB(r.modelBytes)} | ${formatMiB(r.contextBytes)} | ${formatMiB(r.computeBytes)} |`,
    );
  return out;
}

function checkJson(c: CheckResult) {
  return { id: c.id, title: c.title, status: c.status, detail: c.detail, advice: c.advice, data: c.data ?? null };
}

/** The JSON shape `vram-guard preflight --json` prints. */
export function preflightJson(report: PreflightReport) {
  const m = report.model;
  return {
    verdict: report.verdict,
    source: report.source && { kind: report.source.kind, description: report.source.description },
    driverVersion: report.driverVersion,
    gpu: report.gpu,
    need: {
      bytes: report.needBytes,
      from: report.needFrom,
      marginBytes: report.marginBytes,
      projectedLevel: report.projectedLevel,
    },
    reserved: {
      bytes: report.reservedBytes,
      by: report.reservations.map((r) => ({
        owner: r.owner,
        bytes: r.bytes,
        holderPid: r.holderPid,
        serverPid: r.serverPid,
        expiresAt: new Date(r.expiresAt).toISOString(),
      })),
    },
    model: !m
      ? null
      : {
          path: m.need.modelPath,
          label: m.need.estimator?.label ?? null,
          settingsFrom: m.need.from,
          given: m.need.given,
          notes: m.need.notes,
          estimate: m.plan ? { parts: m.plan.estimate.parts, totalBytes: m.plan.estimate.totalBytes, assumptions: m.plan.estimate.assumptions } : null,
          noEstimate: m.need.estimate.kind === 'none' ? m.need.estimate.reason : null,
          fit: m.plan?.note ? { note: m.plan.note, takesAllFree: m.plan.takesAllFree } : null,
          measured: m.measured
            ? { bytes: m.measured.measuredBytes, at: m.measured.measuredAt, estimateBytes: m.measured.estimateBytes, printed: m.measured.printed ?? null }
            : null,
          advice: m.advice.map((a) => ({ title: a.title, flags: a.flags, totalBytes: a.totalBytes, contextTokens: a.contextTokens })),
          adviceBudgetBytes: m.adviceBudgetBytes,
        },
    checks: report.checks.map(checkJson),
  };
}
