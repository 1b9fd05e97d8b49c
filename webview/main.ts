/**
 * The dashboard page: receives the host's messages (src/protocol.ts), keeps the state in
 * view-model.ts, and draws it — a uPlot chart per GPU with threshold bands and event markers, system
 * RAM and swap, the trend, the processes, the model servers and the fallback chain's controls.
 * Everything is built with DOM calls (no HTML strings), styled by dashboard.css with VS Code's
 * theme variables.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import uPlot from 'uplot';
import { RANGES, type FleetView, type GpuInfo, type HostMessage, type RangeData, type RangeName, type WebviewMessage } from '../src/protocol.ts';
import { formatDuration } from '../src/core/duration.ts';
import { cardVerdict } from './card-verdict.ts';
import { chartTextAlternative, markersInView, placeLabels, thresholdBands, trendView, yRange } from './chart-model.ts';
import { formatSizeFromMiB } from './format.ts';
import { renderFleet } from './fleet-panel.ts';
import { autoEnabled, chainActions, processRows, type ServerCardView, serverCardView } from './panels-model.ts';
import { dryRunSection } from './dry-run-panel.ts';
import {
  allMarkers,
  applyMarker,
  applyRange,
  applySample,
  applyTrends,
  fromSnapshot,
  needsRefresh,
  selectRange,
  shortWindowLabel,
  zoomTo,
  type DashboardState,
} from './view-model.ts';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const send = (m: WebviewMessage) => vscode.postMessage(m);
const appElement = document.getElementById('app');
if (!appElement) throw new Error('The dashboard page has no #app element.');
const app: HTMLElement = appElement;
const RANGE_LABEL: Record<RangeName, string> = { '5m': '5 min', '1h': '1 h', '24h': '24 h', all: 'All' };

let state: DashboardState | null = null;
const charts = new Map<number, { u: uPlot; gpu: number; section: HTMLElement }>();
let systemChart: uPlot | null = null;
let nextRequest = 1;
const pending = new Map<number, (data: RangeData) => void>();
let chainGpu = 0;
let fleet: FleetView | null = null;
/** The last dry run's plan, drawn once, shown in the fallback chain's panel until the page reloads. */
let dryRun: HTMLElement | null = null;

// ---- small DOM helper: elements from data, never from HTML strings ----
type Child = Node | string | null | undefined | false;
function h(
  tag: string,
  props: { class?: string; text?: string; attrs?: Record<string, string>; on?: Record<string, (e: Event) => void> } = {},
  ...children: Child[]
): HTMLElement {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs ?? {})) el.setAttribute(k, v);
  for (const [k, f] of Object.entries(props.on ?? {})) el.addEventListener(k, f);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}
const button = (label: string, onClick: () => void, opts: { secondary?: boolean; attrs?: Record<string, string> } = {}) =>
  h('vscode-button', { text: label, attrs: { ...(opts.secondary ? { secondary: '' } : {}), ...(opts.attrs ?? {}) }, on: { click: onClick } });

// ---- theme colours, from VS Code's variables ----
function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}
function palette() {
  return {
    fg: cssVar('--vscode-foreground', '#cccccc'),
    grid: cssVar('--vscode-editorWidget-border', 'rgba(128,128,128,0.35)'),
    used: cssVar('--vscode-charts-blue', '#3794ff'),
    ram: cssVar('--vscode-charts-purple', '#b180d7'),
    swap: cssVar('--vscode-charts-orange', '#d18616'),
    warning: cssVar('--vscode-charts-yellow', '#cca700'),
    critical: cssVar('--vscode-charts-orange', '#d18616'),
    emergency: cssVar('--vscode-charts-red', '#f14c4c'),
  };
}

// ---- messages ----
window.addEventListener('message', (event: MessageEvent) => {
  const message = event.data as HostMessage;
  const t0 = performance.now();
  switch (message.type) {
    case 'init':
      state = fromSnapshot(message.snapshot);
      fleet = message.snapshot.fleet ?? null;
      renderAll();
      requestAnimationFrame(() => requestAnimationFrame(() => (app.dataset.firstPaintMs = (performance.now() - t0).toFixed(1))));
      app.dataset.ready = '1';
      return;
    case 'sample':
      if (!state) return;
      applySample(state, message.s);
      scheduleCharts();
      updateHeaders();
      app.dataset.updateMs = (performance.now() - t0).toFixed(3);
      if (needsRefresh(state, chartPoints())) requestRange();
      return;
    case 'marker':
      if (!state) return;
      applyMarker(state, message.marker);
      scheduleCharts();
      return;
    case 'trend':
      if (!state) return;
      applyTrends(state, message.trends);
      updateCharts();
      return;
    case 'processes':
      if (!state) return;
      state.processes = message.tables;
      renderProcesses();
      return;
    case 'servers':
      if (!state) return;
      state.servers = message.servers;
      state.chain = message.chain;
      renderServers();
      renderChain();
      return;
    case 'dryRunPlan':
      dryRun = dryRunSection(message.plan);
      renderChain();
      return;
    case 'notice':
      showNotice(message.severity, message.text);
      return;
    case 'fleet':
      fleet = message.fleet;
      renderFleet(sections.fleet, fleet, send, (label, onClick) => button(label, onClick, { secondary: true }));
      return;
    case 'reply':
      if (message.ok) pending.get(message.id)?.(message.data);
      pending.delete(message.id);
      return;
  }
});

function chartPoints(): number {
  return Math.max(600, Math.round((app.clientWidth || 1000) * 2));
}

function requestRange(): void {
  if (!state) return;
  const id = nextRequest++;
  const { from, to } = state.window;
  pending.set(id, (data) => {
    if (!state) return;
    applyRange(state, data);
    updateCharts();
  });
  send({ type: 'range', id, from: Math.max(0, Math.floor(from)), to: Math.ceil(to), maxPoints: Math.min(20_000, chartPoints()) });
}

// ---- layout ----
const sections = {
  header: h('header', { class: 'top' }),
  notice: h('div', { class: 'notice', attrs: { role: 'status' } }),
  gpus: h('div', { class: 'gpus' }),
  system: h('section', { class: 'card system' }),
  servers: h('section', { class: 'card servers' }),
  chain: h('section', { class: 'card chain' }),
  fleet: h('section', { class: 'card fleet', attrs: { 'aria-label': 'Fleet' } }),
};

function renderAll(): void {
  if (!state) return;
  for (const c of charts.values()) c.u.destroy();
  charts.clear();
  systemChart?.destroy();
  systemChart = null;
  app.replaceChildren(sections.header, sections.notice, sections.gpus, sections.fleet, sections.system, sections.servers, sections.chain);
  renderFleet(sections.fleet, fleet, send, (label, onClick) => button(label, onClick, { secondary: true }));
  renderHeader();
  sections.gpus.replaceChildren();
  for (const gpu of state.gpus) sections.gpus.append(gpuSection(gpu));
  if (!state.gpus.length) sections.gpus.append(h('p', { class: 'empty', text: `No GPU samples yet. ${state.source}` }));
  renderSystem();
  renderProcesses();
  renderServers();
  renderChain();
}

function renderHeader(): void {
  if (!state) return;
  const s = state;
  const imported = s.mode.kind === 'imported';
  sections.header.replaceChildren(
    h('div', { class: 'title' }, h('h1', { text: imported ? 'VRAM history (imported)' : 'VRAM Guard' }), h('span', { class: 'source', text: s.source })),
    h(
      'div',
      { class: 'actions' },
      imported ? button('Back to live', () => send({ type: 'showLive' })) : null,
      button('Pre-flight check', () => send({ type: 'preflight' }), { secondary: true }),
      button('Budget spike…', () => send({ type: 'budgetSpike' }), { secondary: true }),
      button('Export CSV', () => send({ type: 'export', format: 'csv' }), { secondary: true }),
      button('Export JSON Lines', () => send({ type: 'export', format: 'jsonl' }), { secondary: true }),
      button('Import…', () => send({ type: 'import' }), { secondary: true }),
    ),
    h(
      'div',
      { class: 'ranges', attrs: { role: 'group', 'aria-label': 'Time range' } },
      ...RANGES.map((r) =>
        button(
          RANGE_LABEL[r],
          () => {
            if (!state) return;
            selectRange(state, r);
            vscode.setState({ range: r });
            renderHeader();
            updateCharts();
            requestRange();
          },
          { secondary: r !== s.range || !s.following, attrs: { 'data-range': r, 'aria-pressed': String(r === s.range && s.following) } },
        ),
      ),
      s.following ? null : h('span', { class: 'hint', text: 'zoomed: pick a range to follow again' }),
      // While the history is shorter than the range, the charts span what there is and say so.
      h('span', { class: 'span-label', attrs: { 'aria-live': 'off' }, text: shortWindowLabel(s) ?? '' }),
    ),
  );
}

function gpuTitle(gpu: GpuInfo): string {
  const s = state?.series.get(gpu.gpu);
  const used = s?.v.at(-1) ?? null;
  const level = gpu.level ? ` — ${gpu.level.toUpperCase()}` : '';
  return `GPU ${gpu.gpu}${gpu.name ? ` · ${gpu.name}` : ''}${level} · ${formatSizeFromMiB(used)} of ${formatSizeFromMiB(gpu.totalMiB)}`;
}

function gpuSection(gpu: GpuInfo): HTMLElement {
  // The chart is named, and described by its text alternative (the figures and the verdict) for screen readers.
  const altId = `chart-alt-${gpu.gpu}`;
  const chartBox = h('div', {
    class: 'chart',
    attrs: { 'data-gpu': String(gpu.gpu), role: 'group', 'aria-label': `Chart: used VRAM on GPU ${gpu.gpu}`, 'aria-describedby': altId },
  });
  const section = h(
    'section',
    { class: `card gpu level-${gpu.level ?? 'none'}`, attrs: { 'data-gpu': String(gpu.gpu), 'aria-label': `GPU ${gpu.gpu}` } },
    // The card reads top down: its verdict in words first, the figures below.
    h('h2', { class: 'gpu-verdict', text: cardVerdict(gpu.level, null) }),
    h('p', { class: 'gpu-title', text: gpuTitle(gpu) }),
    h('div', { class: 'trend' }),
    chartBox,
    h('p', { class: 'sr-only chart-alt', attrs: { id: altId } }),
    h(
      'div',
      { class: 'legend-bands' },
      ...(['warning', 'critical', 'emergency'] as const).map((l) => h('span', { class: `band band-${l}`, text: l.toUpperCase() })),
    ),
    h('h3', { text: 'Processes' }),
    h('div', { class: 'processes', attrs: { 'data-gpu': String(gpu.gpu) } }),
  );
  requestAnimationFrame(() => makeChart(gpu, chartBox, section));
  return section;
}

function makeChart(gpu: GpuInfo, box: HTMLElement, section: HTMLElement): void {
  if (!state || !box.isConnected) return;
  const c = palette();
  const series = state.series.get(gpu.gpu) ?? { t: [], v: [] };
  const bands = thresholdBands(gpu);
  const opts: uPlot.Options = {
    width: Math.max(300, box.clientWidth),
    height: 240,
    ms: 1,
    scales: { x: { time: true }, y: { range: () => yRange(state?.gpus.find((g) => g.gpu === gpu.gpu) ?? gpu, state?.series.get(gpu.gpu) ?? series) } },
    series: [{}, { label: 'used VRAM', stroke: c.used, width: 1.5, value: (_u, v) => (v === null ? '—' : formatSizeFromMiB(v)) }],
    axes: [
      { stroke: c.fg, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid } },
      { stroke: c.fg, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid }, size: 70, values: (_u, vals) => vals.map((v) => formatSizeFromMiB(v)) },
    ],
    cursor: { drag: { x: true, y: false, setScale: false } },
    legend: { show: true, live: false },
    hooks: {
      drawClear: [
        (u) => {
          const ctx = u.ctx;
          const { left, width } = u.bbox;
          ctx.save();
          for (const b of bands) {
            const y0 = u.valToPos(b.from, 'y', true);
            const y1 = u.valToPos(b.to, 'y', true);
            ctx.globalAlpha = 0.16;
            ctx.fillStyle = c[b.level];
            ctx.fillRect(left, Math.min(y0, y1), width, Math.abs(y0 - y1));
            ctx.globalAlpha = 0.8;
            ctx.fillRect(left, y0, width, 1);
          }
          ctx.restore();
        },
      ],
      draw: [(u) => placeMarkers(u, gpu.gpu)],
      setSelect: [
        (u) => {
          if (!state || u.select.width < 5) return;
          const from = u.posToVal(u.select.left, 'x');
          const to = u.posToVal(u.select.left + u.select.width, 'x');
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          zoomTo(state, from, to);
          renderHeader();
          updateCharts();
          requestRange();
        },
      ],
    },
  };
  const u = new uPlot(opts, [series.t, series.v], box);
  charts.set(gpu.gpu, { u, gpu: gpu.gpu, section });
  new ResizeObserver(() => u.setSize({ width: Math.max(300, box.clientWidth), height: 240 })).observe(box);
  updateCharts();
}

/** Marker elements per chart, kept between draws: a draw only moves them (no layout reads, little DOM churn). */
const markerEls = new WeakMap<uPlot, Map<string, { el: HTMLElement; label: HTMLElement }>>();

function placeMarkers(u: uPlot, gpu: number): void {
  if (!state) return;
  const from = u.scales.x.min ?? 0;
  const to = u.scales.x.max ?? 0;
  const views = markersInView(allMarkers(state), gpu, from, to);
  const xs = views.map((m) => ({ x: u.valToPos(m.t, 'x'), kind: m.kind }));
  const places = placeLabels(xs, u.bbox.width / devicePixelRatio);
  let els = markerEls.get(u);
  if (!els) {
    els = new Map();
    markerEls.set(u, els);
  }
  const seen = new Set<string>();
  views.forEach((m, i) => {
    const key = `${m.t}|${m.kind}|${m.detail}`;
    seen.add(key);
    const x = xs[i];
    const place = places[i];
    if (!x || !place) return;
    let entry = els.get(key);
    if (!entry) {
      const label = h('span', { class: 'marker-label', text: m.label });
      const el = h(
        'div',
        {
          class: `marker marker-${m.kind}${m.level ? ` level-${m.level}` : ''}`,
          attrs: { 'data-kind': m.kind, role: 'img', 'aria-label': m.detail, title: m.detail, tabindex: '0' },
        },
        label,
      );
      u.over.append(el);
      entry = { el, label };
      els.set(key, entry);
    }
    const left = `${x.x}px`;
    if (entry.el.style.left !== left) entry.el.style.left = left;
    const top = `${2 + place.row * 16}px`;
    if (entry.label.style.top !== top) entry.label.style.top = top;
    entry.label.classList.toggle('flip', place.flip);
  });
  for (const [key, entry] of els) {
    if (seen.has(key)) continue;
    entry.el.remove();
    els.delete(key);
  }
}

/** Redraws once per frame, however many samples arrived in it. */
let frame: number | null = null;
function scheduleCharts(): void {
  if (frame !== null) return;
  frame = requestAnimationFrame(() => {
    frame = null;
    const t0 = performance.now();
    updateCharts(false);
    app.dataset.drawMs = (performance.now() - t0).toFixed(3);
  });
}

/** What a chart last drew: a new sample is drawn only when it moves something by a pixel or more. */
const drawn = new WeakMap<uPlot, { from: number; to: number; last: number | null; markers: number }>();

function needsDraw(u: uPlot, from: number, to: number, s: { v: number[] }, markers: number): boolean {
  const prev = drawn.get(u);
  const last = s.v.at(-1) ?? null;
  if (!prev || prev.markers !== markers || prev.from > from || to - prev.to < 0) return true;
  const msPerPx = (to - from) / Math.max(1, u.bbox.width / devicePixelRatio);
  const yMin = u.scales.y.min ?? 0;
  const yMax = u.scales.y.max ?? 1;
  const mibPerPx = (yMax - yMin) / Math.max(1, u.bbox.height / devicePixelRatio);
  return to - prev.to >= msPerPx || from - prev.from >= msPerPx || last === null || prev.last === null || Math.abs(last - prev.last) >= mibPerPx;
}

function updateCharts(force = true): void {
  if (!state) return;
  const { from, to } = state.window;
  for (const { u, gpu, section } of charts.values()) {
    const s = state.series.get(gpu) ?? { t: [], v: [] };
    const markerCount = allMarkers(state).length;
    if (!force && !needsDraw(u, from, to, s, markerCount)) continue;
    drawn.set(u, { from, to, last: s.v.at(-1) ?? null, markers: markerCount });
    u.batch(() => {
      u.setData([s.t, s.v], false);
      u.setScale('x', { min: from, max: to });
    });
    const box = section.querySelector('.chart') as HTMLElement;
    box.dataset.points = String(s.t.length);
    box.dataset.lastMib = s.v.length ? String(s.v[s.v.length - 1]) : '';
    const info = state.gpus.find((g) => g.gpu === gpu);
    const trendBox = section.querySelector('.trend') as HTMLElement;
    if (info) {
      const tv = trendView(s, info.totalMiB, state.trends.get(gpu) ?? null);
      const verdict = cardVerdict(info.level, tv);
      const heading = section.querySelector('.gpu-verdict') as HTMLElement;
      if (heading.textContent !== verdict) heading.textContent = verdict;
      heading.dataset.trend = tv.verdict;
      const key = `${tv.leakRate}|${tv.timeToOom}`;
      if (trendBox.dataset.key !== key) {
        trendBox.dataset.key = key;
        trendBox.replaceChildren(
          h('span', { class: 'slope', text: `leak: ${tv.leakRate}` }),
          h('span', { class: 'oom', text: `time to OOM: ${tv.timeToOom}` }),
        );
      }
      const span = state.following ? `the last ${formatDuration(to - from)}` : `a zoomed ${formatDuration(to - from)}`;
      const alt = section.querySelector('.chart-alt') as HTMLElement;
      const altText = chartTextAlternative(info, s, span, verdict);
      if (alt.textContent !== altText) alt.textContent = altText;
    }
  }
  const spanLabel = app.querySelector('.span-label');
  const spanText = shortWindowLabel(state) ?? '';
  if (spanLabel && spanLabel.textContent !== spanText) spanLabel.textContent = spanText;
  if (systemChart && (force || needsDraw(systemChart, from, to, state.ram, 0))) {
    const u = systemChart;
    const { ram, swap } = state;
    drawn.set(u, { from, to, last: ram.v.at(-1) ?? null, markers: 0 });
    u.batch(() => {
      u.setData([ram.t, ram.v, swap.v], false);
      u.setScale('x', { min: from, max: to });
    });
  }
}

function updateHeaders(): void {
  if (!state) return;
  for (const { gpu, section } of charts.values()) {
    const info = state.gpus.find((g) => g.gpu === gpu);
    if (!info) continue;
    const title = section.querySelector('.gpu-title') as HTMLElement;
    const text = gpuTitle(info);
    if (title.textContent !== text) title.textContent = text;
    const cls = `card gpu level-${info.level ?? 'none'}`;
    if (section.className !== cls) section.className = cls;
  }
}

function renderSystem(): void {
  if (!state) return;
  const box = h('div', { class: 'chart system-chart' });
  sections.system.replaceChildren(h('h2', { text: 'System RAM and swap' }), box);
  requestAnimationFrame(() => {
    if (!state || !box.isConnected) return;
    const c = palette();
    const ram = state.ram;
    systemChart = new uPlot(
      {
        width: Math.max(300, box.clientWidth),
        height: 160,
        ms: 1,
        legend: { show: true, live: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max, state?.ramTotalMiB ?? 0, 1)] } },
        series: [
          {},
          { label: 'RAM used', stroke: c.ram, width: 1.5, value: (_u, v) => (v === null ? '—' : formatSizeFromMiB(v)) },
          { label: 'swap used', stroke: c.swap, width: 1.5, value: (_u, v) => (v === null ? '—' : formatSizeFromMiB(v)) },
        ],
        axes: [
          { stroke: c.fg, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid } },
          {
            stroke: c.fg,
            grid: { stroke: c.grid, width: 1 },
            ticks: { stroke: c.grid },
            size: 70,
            values: (_u, vals) => vals.map((v) => formatSizeFromMiB(v)),
          },
        ],
      },
      [ram.t, ram.v, state.swap.v],
      box,
    );
    new ResizeObserver(() => systemChart?.setSize({ width: Math.max(300, box.clientWidth), height: 160 })).observe(box);
    updateCharts();
  });
}

function renderProcesses(): void {
  if (!state) return;
  for (const box of Array.from(document.querySelectorAll<HTMLElement>('.processes'))) {
    const table = state.processes.find((p) => p.gpu === Number(box.dataset.gpu));
    if (!table) {
      box.replaceChildren(h('p', { class: 'empty', text: state.mode.kind === 'live' ? 'Reading the processes…' : 'Not recorded in imported logs.' }));
      continue;
    }
    const head = h('tr', {}, ...['PID', 'Process', 'Task / server', 'VRAM', 'Share'].map((t) => h('th', { text: t })));
    const rows = processRows(table).map((r) =>
      h(
        'tr',
        { class: r.residual ? 'residual' : '' },
        h('td', { text: r.pid }),
        h('td', { text: r.name }),
        h('td', { text: r.owner }),
        h('td', { class: 'num', text: r.vram }),
        h('td', { class: 'num', text: r.share }),
      ),
    );
    box.replaceChildren(
      h('table', { attrs: { 'aria-label': `Processes on GPU ${box.dataset.gpu}` } }, h('thead', {}, head), h('tbody', {}, ...rows)),
      table.residualHint ? h('p', { class: 'hint', text: table.residualHint }) : '',
    );
  }
}

function partsTable(name: string, parts: NonNullable<ServerCardView['parts']>): HTMLElement {
  const head = h('tr', {}, ...['Part', 'Estimate', 'Printed', 'Measured'].map((t) => h('th', { text: t })));
  const rows = parts.rows.map((r) =>
    h(
      'tr',
      {},
      h('td', { text: r.part }),
      h('td', { class: 'num', text: r.estimate }),
      h('td', { class: 'num', text: r.printed }),
      h('td', { class: 'num', text: r.measured }),
    ),
  );
  return h(
    'table',
    { class: 'parts', attrs: { 'aria-label': `Memory of ${name} by part` } },
    h('caption', { text: parts.caption }),
    h('thead', {}, head),
    h('tbody', {}, ...rows),
  );
}

function renderServers(): void {
  if (!state) return;
  const cards = state.servers.map((s) => {
    const v = serverCardView(s);
    return h(
      'article',
      { class: 'server', attrs: { 'data-server': s.name } },
      h('h3', { text: v.title }),
      h('p', {}, h('span', { class: `pill health-${v.healthClass}`, text: v.health }), h('span', { class: 'pill', text: v.state })),
      ...v.lines.map((l) => h('p', { class: 'detail', text: l })),
      h('p', { class: 'vram', text: v.vram }),
      v.parts ? partsTable(s.name, v.parts) : '',
    );
  });
  sections.servers.replaceChildren(
    h('h2', { text: 'Model servers' }),
    cards.length ? h('div', { class: 'server-grid' }, ...cards) : h('p', { class: 'empty', text: 'No model server is running from a vram-guard task.' }),
  );
}

function renderChain(): void {
  if (!state) return;
  const chain = state.chain;
  const gpus = state.gpus.map((g) => g.gpu);
  const firstGpu = gpus[0];
  if (!gpus.includes(chainGpu) && firstGpu !== undefined) chainGpu = firstGpu;
  const live = state.mode.kind === 'live';
  const gpuPick =
    gpus.length > 1
      ? h(
          'select',
          {
            attrs: { 'aria-label': 'GPU the steps act on' },
            on: {
              change: (e) => {
                chainGpu = Number((e.target as HTMLSelectElement).value);
              },
            },
          },
          ...gpus.map((g) => {
            const o = h('option', { text: `GPU ${g}`, attrs: { value: String(g) } }) as HTMLOptionElement;
            o.selected = g === chainGpu;
            return o;
          }),
        )
      : null;
  const auto = h('vscode-checkbox', {
    attrs: { label: 'Auto: run triggered steps without asking', ...(autoEnabled(chain) ? { checked: '' } : {}), 'data-control': 'auto' },
    on: { change: (e) => send({ type: 'setAuto', enabled: Boolean((e.target as HTMLInputElement).checked) }) },
  });
  const rows = chain.steps.map((s) =>
    h(
      'tr',
      {},
      h('td', { class: 'num', text: String(s.index + 1) }),
      h('td', { text: s.label }),
      h('td', { text: s.trigger }),
      h('td', { text: `${s.mode}${s.ownMode ? ' (own)' : ''}` }),
      h(
        'td',
        {},
        live
          ? button('Run this step now', () => send({ type: 'runStep', step: s.index, gpu: chainGpu }), {
              secondary: true,
              attrs: { 'data-step': String(s.index) },
            })
          : null,
      ),
    ),
  );
  const actions = chainActions(chain).map((a) =>
    h(
      'li',
      { class: `result-${a.result}` },
      h('span', { class: 'time', text: a.time }),
      h('span', { class: 'pill', text: a.result }),
      h('span', { text: ` ${a.text} ` }),
      h('span', { class: 'memory', text: a.memory }),
    ),
  );
  sections.chain.replaceChildren(
    h('h2', { text: `Fallback chain${chain.busy ? ' — running…' : ''}` }),
    h('div', { class: 'chain-controls' }, live ? button('Dry run', () => send({ type: 'dryRun' }), { secondary: true }) : null, live ? auto : null, gpuPick),
    chain.steps.length
      ? h('table', {}, h('thead', {}, h('tr', {}, ...['#', 'Step', 'Trigger', 'Mode', ''].map((t) => h('th', { text: t })))), h('tbody', {}, ...rows))
      : h('p', { class: 'empty', text: 'No fallback steps are configured (vramGuard.fallbackChain).' }),
    ...(dryRun ? [dryRun] : []),
    h('h3', { text: 'Last actions' }),
    actions.length ? h('ul', { class: 'actions-list' }, ...actions) : h('p', { class: 'empty', text: 'None yet.' }),
  );
}

let noticeTimer: ReturnType<typeof setTimeout> | null = null;
function showNotice(severity: string, text: string): void {
  sections.notice.className = `notice notice-${severity}`;
  sections.notice.textContent = text;
  if (noticeTimer) clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    sections.notice.textContent = '';
    sections.notice.className = 'notice';
  }, 15_000);
}

// A theme change (body class) redraws the charts in the new colours.
new MutationObserver(() => renderAll()).observe(document.body, { attributes: true, attributeFilter: ['class'] });

const saved = vscode.getState() as { range?: unknown } | undefined;
const savedRange = saved?.range;
const range = (RANGES as readonly unknown[]).includes(savedRange) ? (savedRange as RangeName) : '1h';
// Say "ready" until the first picture arrives: a message to a page that is still loading (the editor
// laying out its columns at startup) can be lost, and the host answers each "ready" with the whole picture.
const sayReady = (attempt: number): void => {
  if (app.dataset.ready === '1') return;
  send({ type: 'ready', range });
  if (attempt < 20) setTimeout(() => sayReady(attempt + 1), 2000);
};
sayReady(0);
