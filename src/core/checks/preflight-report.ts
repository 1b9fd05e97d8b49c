/**
 * The pre-flight report as Markdown (the CLI's output and the editor's result view) and as JSON
 * (a stable shape for scripts).
 */
import { CHECK_STATUS_LABEL, type CheckResult } from './check-result.ts';
import { modelLabel } from './gguf-estimate.ts';
import type { PreflightReport, PreflightVerdict } from './preflight.ts';
import { formatMiB } from '../units.ts';
import { markdownCell } from '../report/markdown.ts';

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
  if (report.needBytes !== null) lines.push(`- Need: ${formatMiB(report.needBytes)} (${report.needFrom === 'estimate' ? 'estimated from the model' : `from ${report.needFrom}`})${report.marginBytes === null ? '' : ` + margin ${formatMiB(report.marginBytes)}`}`);
  else lines.push('- Need: not given');
  const e = report.estimate;
  if (e?.ok) {
    lines.push(
      `- Model: ${modelLabel({ path: e.model.path, name: e.model.name, architecture: e.model.architecture })}, ${e.model.blockCount} layers, ${Math.max(...e.model.headCountKv)} KV heads × ${e.model.keyLength}`,
      '',
      '| Part | Size |',
      '|---|---:|',
      `| Weights (tensor data) | ${formatMiB(e.weightsBytes)} |`,
      `| KV cache (${e.options.contextLength} tokens × ${e.options.parallel}, ${e.options.kvCacheType}) | ${formatMiB(e.kvCacheBytes)} |`,
      `| Compute buffers (batch ${Math.min(e.options.ubatch, e.options.contextLength * e.options.parallel)}${e.options.flashAttention ? ', flash attention' : ''}) | ${formatMiB(e.computeBytes)} |`,
      `| CUDA context and runtime | ${formatMiB(e.runtimeBytes)} |`,
      `| **Total** | **${formatMiB(e.totalBytes)}** |`,
    );
  } else if (e) {
    lines.push(`- Model: ${modelLabel({ path: e.path, architecture: e.architecture })}: no estimate`);
  }
  lines.push('', '| Check | Result | Detail | What to do |', '|---|---|---|---|');
  for (const c of report.checks) lines.push(`| ${markdownCell(c.title)} | ${CHECK_STATUS_LABEL[c.status]} | ${markdownCell(c.detail)} | ${markdownCell(c.advice)} |`);
  return lines.join('\n') + '\n';
}

function checkJson(c: CheckResult) {
  return { id: c.id, title: c.title, status: c.status, detail: c.detail, advice: c.advice, data: c.data ?? null };
}

/** The JSON shape `vram-guard preflight --json` prints. */
export function preflightJson(report: PreflightReport) {
  const e = report.estimate;
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
    estimate: !e
      ? null
      : e.ok
        ? {
            ok: true,
            model: { path: e.model.path, name: e.model.name, architecture: e.model.architecture, blockCount: e.model.blockCount, headCountKv: e.model.headCountKv, keyLength: e.model.keyLength, valueLength: e.model.valueLength },
            contextLength: e.options.contextLength,
            parallel: e.options.parallel,
            kvCacheType: e.options.kvCacheType,
            flashAttention: e.options.flashAttention,
            weightsBytes: e.weightsBytes,
            kvCacheBytes: e.kvCacheBytes,
            computeBytes: e.computeBytes,
            runtimeBytes: e.runtimeBytes,
            totalBytes: e.totalBytes,
            notes: e.notes,
          }
        : { ok: false, kind: e.kind, path: e.path, architecture: e.architecture, reason: e.reason, weightsBytes: e.weightsBytes },
    checks: report.checks.map(checkJson),
  };
}
