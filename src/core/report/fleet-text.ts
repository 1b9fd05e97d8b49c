/**
 * The fleet as text: the table `vram-guard fleet` prints, the "where does it fit" ranking, a
 * sparkline in block characters, and "no data since …". GiB appear here, at the edge, never in
 * the fleet core.
 */
import { printable } from '../gpu/output-quote.ts';
import { GiB, type SizeSpec } from '../units.ts';
import type { FleetPlace } from '../fleet/fleet-rank.ts';
import { leftOutLines } from '../fleet/fleet-summary.ts';
import type { FleetGpu, FleetHolder, FleetSnapshot } from '../fleet/fleet-types.ts';
import { levelLabel } from '../watch/levels.ts';

const BLOCKS = '▁▂▃▄▅▆▇█';

/** "5.0 GiB" */
export const gib = (bytes: number): string => `${(bytes / GiB).toFixed(1)} GiB`;

/** A margin as given: "1.0 GiB" or "10%". */
export const marginText = (spec: SizeSpec): string => (spec.kind === 'percent' ? `${spec.percent}%` : gib(spec.bytes));

/** Used memory over the last hour, one character per point, scaled to the GPU's total; gaps are spaces. */
export function sparkline(values: readonly number[], total: number, width = 30): string {
  if (!values.length || total <= 0) return '';
  const step = values.length / Math.min(width, values.length);
  let out = '';
  for (let i = 0; i < values.length; i += step) {
    const v = values[Math.min(values.length - 1, Math.floor(i + step - 1))] ?? NaN;
    out += Number.isFinite(v) ? (BLOCKS[Math.max(0, Math.min(7, Math.floor((v / total) * 8)))] ?? ' ') : ' ';
  }
  return out;
}

/** "14:03:07 (4 min ago)", or "unknown". */
export function sinceText(t: number | null, now: number): string {
  if (t === null) return 'unknown';
  const ago = Math.max(0, Math.round((now - t) / 1000));
  const agoText = ago < 90 ? `${ago} s ago` : ago < 5400 ? `${Math.round(ago / 60)} min ago` : `${(ago / 3600).toFixed(1)} h ago`;
  return `${new Date(t).toLocaleTimeString('en-GB')} (${agoText})`;
}

export function holderText(h: FleetHolder): string {
  const kind = h.kind === 'process' ? '' : ` (${h.kind})`;
  return `${h.label}${kind} ${gib(h.bytes)}`;
}

export function usedText(g: Pick<FleetGpu, 'usedBytes' | 'totalBytes'>): string {
  return `${gib(g.usedBytes)} / ${gib(g.totalBytes)} (${Math.round((g.usedBytes / g.totalBytes) * 100)}%)`;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - [...c].length)))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

export function fleetTable(snapshot: FleetSnapshot): string {
  const rows: string[][] = [];
  for (const host of snapshot.hosts) {
    for (const g of host.gpus) {
      rows.push([
        host.name,
        String(g.index),
        g.name ?? '?',
        usedText(g),
        host.stale ? 'STALE' : levelLabel(g.level),
        g.holders.map(holderText).join(', ') || (g.exporter === 'dcgm' ? '(dcgm: no holders)' : '—'),
        host.stale ? `no data since ${sinceText(host.stale.since, snapshot.at)}` : sparkline(g.sparkline, g.totalBytes),
      ]);
    }
  }
  let out = rows.length ? table(['HOST', 'GPU', 'NAME', 'USED / TOTAL', 'LEVEL', 'TOP HOLDERS', 'LAST HOUR'], rows) : 'No GPUs in the fleet.\n';
  out += sourcesText(snapshot);
  return out;
}

/**
 * What the table could not show, after it: each GPU left out and why, then each source that gave
 * nothing. Their text comes from other machines (labels, error bodies): printed, never acted on.
 */
export function sourcesText(snapshot: FleetSnapshot): string {
  const leftOut = leftOutLines(snapshot).map((line) => `${line}\n`);
  const failed = snapshot.sources.map((s) => (s.ok ? '' : `source ${printable(s.source)}: ${printable(s.error)}\n`));
  return [...leftOut, ...failed].join('');
}

export function rankingTable(places: readonly FleetPlace[], needBytes: number, marginText: string, now: number): string {
  const rows = places.map((p, i) => [
    String(i + 1),
    p.host,
    String(p.gpu),
    p.name ?? '?',
    gib(p.freeBytes),
    gib(p.roomAfterBytes),
    gib(p.marginBytes),
    p.verdict === 'stale' ? 'STALE' : `${levelLabel(p.levelNow)} → ${levelLabel(p.levelAfter)}`,
    `${gib(p.thresholds.warning)} / ${gib(p.thresholds.critical)} / ${gib(p.thresholds.emergency)}${p.thresholdsFrom === 'host' ? '' : ' (ours)'}`,
    p.verdict === 'stale' ? `stale: no data since ${sinceText(p.staleSince, now)}` : p.verdict,
  ]);
  const title = `Where does ${gib(needBytes)} fit? (margin ${marginText})\n`;
  return (
    title +
    (rows.length
      ? table(['#', 'HOST', 'GPU', 'NAME', 'FREE', 'ROOM AFTER', 'MARGIN', 'LEVEL NOW → AFTER', 'WARNING / CRITICAL / EMERGENCY', 'VERDICT'], rows)
      : 'No GPUs in the fleet.\n')
  );
}
