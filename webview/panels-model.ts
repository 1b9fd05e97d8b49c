/** The processes table, the server cards and the fallback chain's panel, as rows of text. Pure. */
import type { ChainView, DryRunPlan, ProcessTable, ServerCard } from '../src/protocol.ts';
import { levelLabel } from '../src/core/watch/levels.ts';
import { formatDuration } from '../src/core/duration.ts';
import { formatWholeMiB, formatPercent, formatTime } from './format.ts';

export interface ProcessRowView {
  pid: string;
  name: string;
  owner: string;
  vram: string;
  share: string;
  residual: boolean;
}

/** Rows for one GPU: each process (largest first), then the residual as its own row. */
export function processRows(table: ProcessTable): ProcessRowView[] {
  const rows: ProcessRowView[] = table.rows.map((r) => ({
    pid: String(r.pid),
    name: r.name,
    owner: r.owner ?? '—',
    vram: formatWholeMiB(r.vramMiB),
    share: formatPercent(r.share),
    residual: false,
  }));
  const residualShare = table.residualMiB !== null && table.usedMiB ? (table.residualMiB / table.usedMiB) * 100 : null;
  rows.push({
    pid: '—',
    name: 'residual (no running process)',
    owner: '—',
    vram: formatWholeMiB(table.residualMiB),
    share: formatPercent(residualShare),
    residual: true,
  });
  return rows;
}

export interface ServerCardView {
  title: string;
  state: string;
  health: string;
  healthClass: 'ok' | 'warn' | 'bad' | 'unknown';
  lines: string[];
  vram: string;
  /** Its memory part by part: estimate, printed by llama.cpp, measured (NVML, the total only); null when there is nothing to show. */
  parts: { caption: string; rows: Array<{ part: string; estimate: string; printed: string; measured: string }> } | null;
}

/**
 * A server's life in lines: its uptime since it became ready against the target ("up 9 h 5 m since
 * 07:14:02, past the 8 h target"), its restarts and policy, and its last failure with its last lines.
 */
export function serverLifeLines(s: ServerCard, now = Date.now()): string[] {
  const lines: string[] = [];
  const targetMs = (s.uptimeTargetHours ?? 8) * 3_600_000;
  if (s.readySince !== undefined && s.readySince !== null) {
    const up = Math.max(0, now - s.readySince);
    const target = formatDuration(targetMs);
    lines.push(
      `up ${formatDuration(up)} since ${formatTime(s.readySince, now)}, ${up >= targetMs ? `past the ${target} target` : `${Math.floor((up / targetMs) * 100)}% of the ${target} target`}`,
    );
  }
  if (s.restarts || s.restartPolicy) lines.push(`restarts: ${s.restarts ?? 0}${s.restartPolicy ? ` (restart ${s.restartPolicy})` : ''}`);
  const e = s.lastExit;
  if (e) {
    lines.push(`last exit: ${e.signal ? `signal ${e.signal}` : `code ${e.code ?? '?'}`} at ${formatTime(e.at, now)}`);
    for (const l of e.lastLines.slice(-3)) lines.push(`  ${l}`);
  }
  return lines;
}

export function serverCardView(s: ServerCard, now = Date.now()): ServerCardView {
  const lines: string[] = [];
  if (s.models.length)
    lines.push(
      `models: ${s.models.map((m) => `${m.name}${m.context ? ` (ctx ${m.context})` : ''}${m.vramMiB !== null ? ` · ${formatWholeMiB(m.vramMiB)}` : ''}`).join(', ')}`,
    );
  else lines.push('no model loaded (as the server reports)');
  if (s.context !== null) lines.push(`context: ${s.context}`);
  if (s.sleeping !== null) lines.push(s.sleeping ? 'sleeping' : 'awake');
  if (s.error) lines.push(`error: ${s.error}`);
  lines.push(...serverLifeLines(s, now));
  const healthClass = s.health === 'healthy' ? 'ok' : s.health === 'unhealthy' ? 'warn' : s.health === 'unreachable' ? 'bad' : 'unknown';
  return {
    title: `${s.name} · ${s.kind}${s.pid !== null ? ` · PID ${s.pid}` : ''}${s.gpu !== null ? ` · GPU ${s.gpu}` : ''}`,
    state: s.state,
    health: s.health,
    healthClass,
    lines,
    vram: `VRAM by NVML ${formatWholeMiB(s.nvmlMiB)} · by the server ${formatWholeMiB(s.reportedMiB)}`,
    parts: partsView(s, now),
  };
}

/** The card's parts table: per part the estimate and what llama.cpp printed, then the totals with NVML's measured figure. */
export function partsView(s: ServerCard, now = Date.now()): ServerCardView['parts'] {
  const p = s.parts;
  if (!p?.rows.length) return null;
  const mib = (x: number | null) => (x === null ? '—' : formatWholeMiB(x));
  const sum = (k: 'estimateMiB' | 'printedMiB') => (p.rows.some((r) => r[k] !== null) ? p.rows.reduce((a, r) => a + (r[k] ?? 0), 0) : null);
  const printedAt = p.printedAt ? Date.parse(p.printedAt) : Number.NaN;
  return {
    caption: !Number.isNaN(printedAt)
      ? `Memory by part (llama.cpp's own report at ${formatTime(printedAt, now)})`
      : s.kind === 'llama-server'
        ? 'Memory by part (llama.cpp printed no load report: start it with "loadReport": true)'
        : 'Memory by part (estimate)',
    rows: [
      ...p.rows.map((r) => ({ part: r.part, estimate: mib(r.estimateMiB), printed: mib(r.printedMiB), measured: '' })),
      { part: 'total', estimate: mib(sum('estimateMiB')), printed: mib(sum('printedMiB')), measured: mib(s.nvmlMiB) },
    ],
  };
}

export interface ChainActionView {
  time: string;
  text: string;
  result: string;
  memory: string;
}

export function chainActions(chain: ChainView, now = Date.now()): ChainActionView[] {
  return chain.actions.map((a) => ({
    time: formatTime(a.t, now),
    text: `step ${a.step + 1} ${a.label} (${a.origin}) on GPU ${a.gpu}: ${a.message}`,
    result: a.result,
    memory: a.afterMiB !== null ? `${formatWholeMiB(a.beforeMiB)} → ${formatWholeMiB(a.afterMiB)}` : `at ${formatWholeMiB(a.beforeMiB)}`,
  }));
}

/** Auto is on when the chain runs triggered steps without asking. */
export function autoEnabled(chain: ChainView): boolean {
  return chain.mode === 'auto';
}

export interface DryRunView {
  /** "Dry run at 07:20:00 — nothing was done" */
  heading: string;
  rows: Array<{ gpu: string; step: string; mode: string; result: string; text: string }>;
  /** Said instead of the rows when there are none. */
  empty: string | null;
}

/** A dry run's plan: one row per GPU and step, in the chain's order. */
export function dryRunView(plan: DryRunPlan, now = Date.now()): DryRunView {
  return {
    heading: `Dry run at ${formatTime(plan.t, now)} — nothing was done`,
    rows: plan.steps.map((s) => ({
      gpu: `GPU ${s.gpu} · ${levelLabel(s.level)} · ${formatWholeMiB(s.usedMiB)} of ${formatWholeMiB(s.totalMiB)}`,
      step: `${s.step + 1}. ${s.label}`,
      mode: s.mode,
      result: s.result,
      text: s.message,
    })),
    empty: plan.steps.length ? null : 'No fallback steps are configured (vramGuard.fallbackChain), so there is nothing to plan.',
  };
}
