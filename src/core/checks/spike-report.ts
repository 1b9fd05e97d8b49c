/**
 * The budget spike's report: Markdown (the table a user wrote by hand, the decision, each server's
 * VRAM from NVML and from its own report) and JSON (a stable shape for scripts).
 */
import { formatMiB, MiB } from '../units.ts';
import { levelLabel } from '../watch/levels.ts';
import type { SpikeReport, SpikeServerResult } from './spike.ts';
import { formatDuration } from '../duration.ts';
import { markdownCell } from '../report/markdown.ts';

const signed = (bytes: number) => `${bytes >= 0 ? '+' : '−'}${formatMiB(Math.abs(bytes))}`;
const pct = (p: number) => `${p.toFixed(1)}%`;
const mib = (b: number | null) => (b === null ? '—' : formatMiB(b));

/** One line for a notification or a log. */
export function spikeSummary(r: SpikeReport): string {
  if (r.status !== 'complete' || !r.decision || !r.peak) return `INCOMPLETE (${r.status}): ${r.problem ?? 'no peak was measured'}`;
  const d = r.decision;
  const where = d.marginBytes > 0 ? `${formatMiB(d.marginBytes)} below` : `${formatMiB(-d.marginBytes)} above`;
  return `${d.verdict}: peak ${formatMiB(r.peak.usedBytes)} is ${where} the WARNING threshold of ${formatMiB(d.warningBytes)}; ${formatMiB(r.headroomBytes ?? 0)} headroom at peak.`;
}

export function spikeMarkdown(r: SpikeReport): string {
  const lines = ['# VRAM budget spike', ''];
  const total = r.gpu?.totalBytes ?? 0;
  if (r.status !== 'complete') {
    lines.push(
      `**INCOMPLETE — ${r.status === 'cancelled' ? 'cancelled' : 'failed'}: ${r.problem ?? ''}** What was measured before is below; there is no decision.`,
      '',
    );
  } else if (r.decision && r.peak) {
    const d = r.decision;
    lines.push(
      d.verdict === 'GO'
        ? `**GO** — the concurrent peak of ${formatMiB(r.peak.usedBytes)} stays ${formatMiB(d.marginBytes)} below the WARNING threshold of ${formatMiB(d.warningBytes)}.`
        : `**NO-GO** — the concurrent peak of ${formatMiB(r.peak.usedBytes)} is ${d.marginBytes === 0 ? 'at' : `${formatMiB(-d.marginBytes)} above`} the WARNING threshold of ${formatMiB(d.warningBytes)} (${levelLabel(d.level)}).`,
      '',
    );
  }
  if (r.source.kind === 'replay')
    lines.push('**SIMULATED:** the GPU figures are replayed from a recording, not read from the GPU, so the servers the spike started are not in them.', '');
  if (r.gpu)
    lines.push(
      `- GPU ${r.gpu.index}: ${r.gpu.name ?? 'unknown'}, ${formatMiB(total)} total · source: ${r.source.description}${r.driverVersion && !r.source.description.includes(r.driverVersion) ? ` · driver ${r.driverVersion}` : ''}`,
    );
  else lines.push(`- Source: ${r.source.description}`);
  lines.push(`- ${r.startedAt} → ${r.finishedAt}`);
  if (r.decision) {
    const th = r.decision.thresholds;
    lines.push(`- Thresholds: WARNING ${formatMiB(th.warning)} · CRITICAL ${formatMiB(th.critical)} · EMERGENCY ${formatMiB(th.emergency)}`);
  }
  lines.push('');

  if (r.rows.length) {
    lines.push('| State | Used MiB | Utilisation | Delta |', '|---|---:|---:|---:|');
    for (const row of r.rows) {
      lines.push(
        `| ${markdownCell(row.label)} | ${Math.round(row.usedBytes / MiB)} | ${pct(row.percent)} | ${row.deltaBytes === null ? '—' : signed(row.deltaBytes)} |`,
      );
    }
    if (r.headroomBytes !== null)
      lines.push(`| **Headroom at peak** | **${Math.round(r.headroomBytes / MiB)}** | **${pct(total ? (r.headroomBytes / total) * 100 : 0)} free** | — |`);
    lines.push(
      '',
      `Utilisation is used VRAM in % of the GPU's ${formatMiB(total)}. Each state is the median of ${r.timing.samples} sample${r.timing.samples === 1 ? '' : 's'} after ${formatDuration(r.timing.settleMs)} of settling.`,
    );
    if (r.peak) {
      lines.push(
        `The peak is the highest of ${r.peak.sampleCount} samples taken every ${r.timing.peakIntervalMs} ms (${r.peak.rateHz} Hz) over ${formatDuration(r.peak.durationMs)} of concurrent load, ${r.peak.rounds} round${r.peak.rounds === 1 ? '' : 's'}; reached ${formatDuration(r.peak.atMs)} after the load began.`,
      );
    }
    lines.push('');
  } else {
    lines.push('Nothing was measured.', '');
  }

  if (r.decision) {
    const d = r.decision;
    lines.push(
      `**Decision: ${d.verdict}.** ${d.verdict === 'GO' ? 'The peak stays below WARNING' : 'The peak reaches WARNING'}: margin ${signed(d.marginBytes)} (WARNING ${formatMiB(d.warningBytes)} − peak ${formatMiB(r.peak?.usedBytes ?? 0)}); at the peak the GPU is ${levelLabel(d.level)}.`,
    );
    if (d.verdict === 'NO-GO') {
      lines.push(
        '',
        'To fit: shrink a server (a smaller context, a q8_0 KV cache, fewer GPU layers, a smaller model), run Whisper on the CPU, or let the fallback chain unload a model when WARNING is reached; then run the spike again.',
      );
    }
    if (d.thresholdProblem) lines.push('', d.thresholdProblem);
    lines.push('');
  }

  if (r.servers.length) {
    lines.push(
      '## Servers',
      '',
      '| Server | Kind | PID | Added at start | NVML (its processes) | Server says | Load requests | Stopped |',
      '|---|---|---:|---:|---:|---:|---|---|',
    );
    for (const s of r.servers) lines.push(serverRow(s));
    lines.push(
      '',
      'NVML is what the driver counts for the server\'s process tree with every server loaded; "Server says" is the server\'s own figure (Ollama `size_vram`), an estimate that often differs.',
    );
    // VRAM Guard's estimate from each server's own arguments, as the VRAM gate sizes it, beside what was measured.
    for (const s of r.servers) {
      if (s.estimateBytes === null && !s.estimateNote) continue;
      const against =
        s.estimateBytes !== null && s.nvmlBytes
          ? ` (NVML measured ${formatMiB(s.nvmlBytes)}: ${s.estimateBytes >= s.nvmlBytes ? '+' : '−'}${formatMiB(Math.abs(s.estimateBytes - s.nvmlBytes))})`
          : '';
      lines.push(
        '',
        `Estimate for ${s.name} from its arguments: ${s.estimateBytes === null ? 'none' : formatMiB(s.estimateBytes)}${against}${s.estimateNote ? `. ${s.estimateNote}` : ''}`,
      );
    }
    const details = r.servers.filter((s) => s.startError || s.load.errors.length || s.load.warmUp?.ok === false);
    for (const s of details) {
      lines.push('', `### ${s.name}`, '');
      if (s.startError) lines.push(`- Did not start: ${s.startError}`);
      if (s.load.warmUp && !s.load.warmUp.ok) lines.push(`- The first request failed: ${s.load.warmUp.error ?? 'no reason given'}`);
      for (const e of s.load.errors) lines.push(`- A load request failed: ${e}`);
      if (s.lastLines.length) lines.push('', '```text', ...s.lastLines, '```');
    }
    lines.push('', `Commands: ${r.servers.map((s) => `\`${s.name}\`: \`${s.command.join(' ')}\``).join(' · ')}`, '');
  }

  if (r.afterStop) {
    const a = r.afterStop;
    lines.push(
      `After the servers stopped: ${formatMiB(a.usedBytes)} used${a.aboveBaselineBytes === null ? '' : ` (${signed(a.aboveBaselineBytes)} against the baseline)`}.`,
      '',
    );
  }
  if (r.notes.length) lines.push('## Notes', '', ...r.notes.map((n) => `- ${markdownCell(n)}`), '');
  return lines.join('\n');
}

function serverRow(s: SpikeServerResult): string {
  const l = s.load;
  const load = l.request === 'none' ? 'none' : l.sent ? `${l.ok}/${l.sent} ok${l.meanMs !== null ? `, mean ${l.meanMs} ms` : ''} · ${l.request}` : l.request;
  const stop = !s.stop
    ? s.pid === null
      ? 'not started'
      : '—'
    : s.stop.how === 'left-running'
      ? 'left running'
      : s.stop.how === 'already-exited'
        ? 'had exited'
        : s.stop.how === 'failed'
          ? `failed: ${s.stop.detail ?? ''}`
          : `${s.stop.how} (${s.stop.waitedMs} ms)`;
  return `| ${markdownCell(s.name)} | ${s.kind} | ${s.pid ?? '—'} | ${s.addedBytes === null ? '—' : signed(s.addedBytes)} | ${mib(s.nvmlBytes)} | ${mib(s.reportedBytes)} | ${markdownCell(load)} | ${markdownCell(stop)} |`;
}

/** The JSON shape saved beside the Markdown (and printed with --json). */
export function spikeJson(r: SpikeReport) {
  return {
    status: r.status,
    complete: r.status === 'complete',
    problem: r.problem,
    verdict: r.decision?.verdict ?? null,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    source: r.source,
    driverVersion: r.driverVersion,
    gpu: r.gpu,
    thresholds: r.decision?.thresholds ?? null,
    timing: r.timing,
    rows: r.rows.map((row) => ({
      kind: row.kind,
      label: row.label,
      server: row.server,
      usedBytes: row.usedBytes,
      percent: Math.round(row.percent * 10) / 10,
      deltaBytes: row.deltaBytes,
      samples: row.samples,
    })),
    peak: r.peak,
    headroomBytes: r.headroomBytes,
    decision: r.decision && {
      verdict: r.decision.verdict,
      warningBytes: r.decision.warningBytes,
      marginBytes: r.decision.marginBytes,
      level: r.decision.level,
      thresholdProblem: r.decision.thresholdProblem,
    },
    servers: r.servers.map((s) => ({
      name: s.name,
      kind: s.kind,
      command: s.command,
      pid: s.pid,
      readyMs: s.readyMs,
      addedBytes: s.addedBytes,
      nvmlBytes: s.nvmlBytes,
      reportedBytes: s.reportedBytes,
      estimateBytes: s.estimateBytes,
      estimateNote: s.estimateNote,
      models: s.models,
      load: s.load,
      startError: s.startError,
      stop: s.stop,
    })),
    afterStop: r.afterStop,
    leaveRunning: r.leaveRunning,
    notes: r.notes,
  };
}
