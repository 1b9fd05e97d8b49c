/**
 * The dashboard's Fleet section: one card per host (stale hosts say "no data since …"), one row per
 * GPU with used / total, its level against its thresholds (the host's own or ours), the top holders
 * by task, server or process, and the last hour as a sparkline (an SVG polyline scaled to the GPU's
 * total). Built with DOM calls only; the page's messages are sent through `send`.
 */
import type { FleetGpuView, FleetView, WebviewMessage } from '../src/protocol.ts';
import { formatSizeFromMiB } from './format.ts';

const SVG = 'http://www.w3.org/2000/svg';

function el(tag: string, cls: string | null, text?: string, attrs: Record<string, string> = {}): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** The points of a sparkline in a width × height box; gaps (null) break the line; a lone point is a short dash. */
export function sparkPaths(spark: ReadonlyArray<number | null>, totalMiB: number, width: number, height: number): string[] {
  const paths: string[] = [];
  let current: string[] = [];
  const n = Math.max(1, spark.length - 1);
  const close = () => {
    // A lone point (a host seen for less than a step) is a short dash ending at it, inside the box.
    const [only] = current;
    if (current.length === 1 && only !== undefined) current.unshift(only.replace(/^[\d.]+/, (x) => Math.max(0, Number(x) - 4).toFixed(1)));
    if (current.length) paths.push(current.join(' '));
    current = [];
  };
  spark.forEach((v, i) => {
    if (v === null || !(totalMiB > 0)) {
      close();
      return;
    }
    const x = (i / n) * width;
    const y = height - Math.max(0, Math.min(1, v / totalMiB)) * height;
    current.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  close();
  return paths;
}

function sparkline(g: FleetGpuView): SVGElement {
  const w = 120;
  const h = 24;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(h));
  svg.setAttribute('role', 'img');
  const known = g.spark.filter((v): v is number => v !== null);
  svg.setAttribute(
    'aria-label',
    known.length ? `last hour: ${formatSizeFromMiB(Math.min(...known))} to ${formatSizeFromMiB(Math.max(...known))}` : 'no data in the last hour',
  );
  const crit = document.createElementNS(SVG, 'line');
  const yc = (h - (g.thresholds.critical / g.totalMiB) * h).toFixed(1);
  for (const [k, v] of Object.entries({ x1: '0', x2: String(w), y1: yc, y2: yc, class: 'spark-critical' })) crit.setAttribute(k, v);
  svg.append(crit);
  for (const points of sparkPaths(g.spark, g.totalMiB, w, h)) {
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points);
    line.setAttribute('class', 'spark-line');
    svg.append(line);
  }
  return svg;
}

function gpuRow(host: string, g: FleetGpuView, stale: boolean): HTMLElement {
  const tr = el('tr', `fleet-gpu level-${stale ? 'stale' : g.level}`, undefined, {
    'data-host': host,
    'data-gpu': String(g.index),
    'data-used-mib': String(g.usedMiB),
    'data-level': stale ? 'stale' : g.level,
  });
  const pct = g.totalMiB > 0 ? Math.round((g.usedMiB / g.totalMiB) * 100) : 0;
  const holders = g.holders.length
    ? g.holders.map((x) => `${x.label}${x.kind === 'process' ? '' : ` (${x.kind})`} ${formatSizeFromMiB(x.vramMiB)}`).join(', ')
    : '—';
  const thresholds = `${formatSizeFromMiB(g.thresholds.warning)} / ${formatSizeFromMiB(g.thresholds.critical)} / ${formatSizeFromMiB(g.thresholds.emergency)}${g.thresholdsFrom === 'host' ? '' : ' (ours)'}`;
  const cells: Array<HTMLElement | SVGElement> = [
    el('td', 'num', String(g.index)),
    el('td', null, g.name ?? '?'),
    el('td', 'num', `${formatSizeFromMiB(g.usedMiB)} / ${formatSizeFromMiB(g.totalMiB)} (${pct}%)`),
    el('td', null, stale ? 'STALE' : g.level.toUpperCase()),
    el('td', 'holders', holders),
    el('td', 'thresholds', thresholds),
  ];
  const sparkCell = el('td', null);
  sparkCell.append(sparkline(g));
  for (const c of cells) tr.append(c);
  tr.append(sparkCell);
  return tr;
}

export function renderFleet(
  box: HTMLElement,
  fleet: FleetView | null,
  send: (m: WebviewMessage) => void,
  button: (label: string, onClick: () => void) => HTMLElement,
): void {
  if (!fleet) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  const head = el('div', 'fleet-head');
  head.append(
    el('h2', null, 'Fleet'),
    el('span', 'fleet-line', fleet.line),
    button('Refresh', () => send({ type: 'fleetRefresh' })),
    button('Where does it fit?…', () => send({ type: 'fleetWhereFits' })),
  );
  const parts: HTMLElement[] = [head];
  for (const e of fleet.errors) parts.push(el('p', 'fleet-error', `${e.source}: ${e.error}`, { 'data-source': e.source }));
  for (const host of fleet.hosts) {
    const card = el('article', `fleet-host${host.stale ? ' stale' : ''}`, undefined, { 'data-host': host.name });
    const title = el('h3', null, host.name);
    if (host.instance !== host.name) title.append(el('span', 'hint', ` ${host.instance}`));
    card.append(title);
    if (host.stale) card.append(el('p', 'fleet-stale', host.stale));
    const table = el('table', 'fleet-table', undefined, { 'aria-label': `GPUs of ${host.name}` });
    const thead = el('tr', null);
    for (const t of ['GPU', 'Name', 'Used / total', 'Level', 'Top holders', 'Warning / critical / emergency', 'Last hour']) thead.append(el('th', null, t));
    const tbody = el('tbody', null);
    for (const g of host.gpus) tbody.append(gpuRow(host.name, g, host.stale !== null));
    const thEl = el('thead', null);
    thEl.append(thead);
    table.append(thEl, tbody);
    card.append(table);
    parts.push(card);
  }
  if (!fleet.hosts.length) parts.push(el('p', 'empty', 'No host has answered yet.'));
  box.replaceChildren(...parts);
}
