/**
 * One open dashboard panel: it answers the page's messages (checked with the protocol's parser;
 * anything else is refused and logged), sends the whole picture once when the page is ready, then
 * one small message per sample, and nothing while the panel is hidden. Processes and servers are
 * read every few seconds while it is visible.
 */
import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import { readingsOf, type FallbackChain } from '../../core/fallback/chain.ts';
import type { FallbackMode, FallbackStep } from '../../core/servers/fallback-steps.ts';
import { collectLedger, type GpuLedger } from '../../core/servers/ledger.ts';
import type { Reservation } from '../../core/servers/reservations.ts';
import type { ServerRegistry } from '../../core/servers/server-registry.ts';
import type { HistoryStore } from '../../core/history/store.ts';
import { LiveTrend } from '../../core/trend/live-trend.ts';
import { gpuTrends } from '../../core/trend/trend-watch.ts';
import type { ThresholdSpec } from '../../core/watch/thresholds.ts';
import type { Watcher } from '../../core/watch/watcher.ts';
import { acceptWebviewMessage, RANGE_MS, type HostMessage, type RangeName, type ViewMode, type WebviewMessage } from '../../protocol.ts';
import { ProcessRecogniser } from '../../core/servers/recognition/recogniser.ts';
import { chainView, dryRunPlan, gpuInfos, INIT_POINTS, markerOf, processTables, rangeData, sampleUpdate, serverCards } from './dashboard-data.ts';
import { dashboardHtml, makeNonce } from './dashboard-html.ts';
import { fleetView } from './dashboard-fleet.ts';
import { FLEET_PREFLIGHT_COMMAND } from '../fleet/fleet-preflight.ts';
import type { FleetFeed } from '../fleet/fleet-watch.ts';
import { PREFLIGHT_COMMAND } from '../preflight/preflight-command.ts';
import { SPIKE_COMMAND } from '../spike/spike-command.ts';
import { errorMessage } from '../../core/errors.ts';
import { MiB } from '../../core/units.ts';
import { systemClock } from '../../core/clock.ts';
import { PageLoadWatch } from './page-load-watch.ts';

export const EXPORT_HISTORY_COMMAND = COMMAND.exportHistory;
export const IMPORT_HISTORY_COMMAND = COMMAND.importHistory;

const LEDGER_EVERY_MS = 3000;
/** How often the open dashboard's trend verdicts are judged again. */
const TREND_EVERY_MS = 30_000;

/** What the dashboard reads and acts on: the extension's context, as it is (nothing is copied). */
export interface DashboardContext {
  watcher: Watcher;
  servers: ServerRegistry;
  chain: FallbackChain;
  /** The fallback steps in force (the list the chain reads). */
  steps: () => FallbackStep[];
  /** The chain's mode (`vramGuard.fallbackMode`). */
  fallbackMode: () => FallbackMode;
  /** The threshold settings, for drawing an imported log's bands. */
  thresholds: () => ThresholdSpec;
  /** Other hosts' GPUs, when `vramGuard.fleet.*` names a source. */
  fleet?: FleetFeed;
  log: vscode.LogOutputChannel;
  /** Memory reserved by servers starting (any window or the CLI), shown in the processes table. */
  reservations?: { list(): Promise<Reservation[]> };
  /** The watched GPUs' process lists over time, for the trend verdicts. */
  trend?: LiveTrend;
  /** `vramGuard.servers.uptimeTargetHours`, for the server cards. */
  uptimeTargetHours?: () => number;
  extensionUri: vscode.Uri;
  /** The live history. */
  history: HistoryStore;
  setFallbackMode: (mode: FallbackMode) => Thenable<void>;
}

/** What the panel does when its page never says "ready" (see page-load-watch.ts). */
export interface PageReload {
  /** Fresh panels already opened in a row for this page. */
  reloadsSoFar: number;
  /** Opens the page again in a fresh panel in the same column; `attempt` counts from 1. */
  reload: (attempt: number) => void;
}

/** Where the page's files may come from, and nothing else. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
    retainContextWhenHidden: false,
    enableFindWidget: true,
  };
}

export class DashboardSession implements vscode.Disposable {
  readonly panel: vscode.WebviewPanel;
  private readonly deps: DashboardContext;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly offs: Array<() => void> = [];
  private ready = false;
  private store: HistoryStore;
  private mode: ViewMode = { kind: 'live' };
  private ledger: GpuLedger[] = [];
  private readonly toldServerProblems = new Map<string, string>();
  private ledgerTimer: NodeJS.Timeout | null = null;
  private lastProcesses = '';
  private lastServers = '';
  private lastTrendAt = 0;
  private lastTrends = '';
  private disposed = false;
  private readonly loadWatch: PageLoadWatch | null;
  /** Names the GPU processes from /proc, cached between refreshes of the table. */
  private readonly recogniser = new ProcessRecogniser();
  /** Bytes posted by the last sample update (for the benchmark and tests). */
  lastUpdateBytes = 0;
  readonly onDidDispose: vscode.Event<void>;

  constructor(panel: vscode.WebviewPanel, deps: DashboardContext, reload?: PageReload) {
    this.panel = panel;
    this.deps = deps;
    this.store = deps.history;
    this.onDidDispose = panel.onDidDispose;
    this.loadWatch = reload ? new PageLoadWatch({ clock: systemClock, log: deps.log, reload: reload.reload, reloadsSoFar: reload.reloadsSoFar }) : null;
    panel.webview.options = webviewOptions(deps.extensionUri);
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'icon.png');
    const asUri = (...p: string[]) => panel.webview.asWebviewUri(vscode.Uri.joinPath(deps.extensionUri, 'dist', 'webview', ...p)).toString();
    panel.webview.html = dashboardHtml({
      cspSource: panel.webview.cspSource,
      nonce: makeNonce(),
      scriptUri: asUri('dashboard.js'),
      styleUri: asUri('dashboard.css'),
    });
    this.disposables.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)),
      panel.onDidChangeViewState(() => {
        // A hidden page is unloaded (retainContextWhenHidden is off): it says "ready" again when shown.
        if (!panel.visible) {
          this.ready = false;
          this.loadWatch?.hidden();
        } else this.loadWatch?.shown();
        this.scheduleLedger();
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    if (panel.visible) this.loadWatch?.shown();
    this.offs.push(
      deps.watcher.on('sample', (w) => {
        if (this.mode.kind !== 'live' || !this.canPost()) return;
        const message: HostMessage = { type: 'sample', s: sampleUpdate(w, this.store.latestSystem()) };
        this.lastUpdateBytes = JSON.stringify(message).length;
        this.post(message);
        if (w.sample.timestamp - this.lastTrendAt >= TREND_EVERY_MS) this.postTrends(w.sample.timestamp);
      }),
      deps.history.on('event', (e) => {
        if (this.mode.kind === 'live' && this.canPost()) this.post({ type: 'marker', marker: markerOf(e) });
      }),
      deps.chain.on('event', () => this.postServers(true)),
      deps.chain.on('busy', () => this.postServers(true)),
      deps.servers.on('changed', () => void this.refreshLedger()),
    );
    if (deps.fleet) {
      this.offs.push(
        deps.fleet.on((f) => {
          if (this.mode.kind === 'live' && this.canPost()) this.post({ type: 'fleet', fleet: f ? fleetView(f) : null });
        }),
      );
    }
  }

  /** Shows what `other` showed (the live history or an imported log): `other` is being replaced by this one. */
  takeViewOf(other: DashboardSession): void {
    this.store = other.store;
    this.mode = other.mode;
    this.panel.title = other.panel.title;
  }

  reveal(): void {
    this.panel.reveal();
  }

  /** Shows an imported log instead of the live history (until "back to live"). */
  showImported(store: HistoryStore, title: string, format: string): void {
    this.store = store;
    this.mode = { kind: 'imported', title, format };
    this.panel.title = `VRAM Guard: ${title}`;
    if (this.canPost()) this.postInit('all');
  }

  showLive(range: RangeName = '1h'): void {
    this.store = this.deps.history;
    this.mode = { kind: 'live' };
    this.panel.title = 'VRAM Guard';
    if (this.canPost()) this.postInit(range);
  }

  private canPost(): boolean {
    return this.ready && this.panel.visible && !this.disposed;
  }

  private post(message: HostMessage): void {
    void this.panel.webview.postMessage(message).then(undefined, () => {});
  }

  private notice(severity: 'info' | 'warning' | 'error', text: string): void {
    if (this.canPost()) this.post({ type: 'notice', severity, text });
  }

  private async receive(raw: unknown): Promise<void> {
    const message = acceptWebviewMessage(raw, (line) => this.deps.log.warn(line));
    if (!message) return;
    try {
      await this.handle(message);
    } catch (err) {
      this.deps.log.warn(`dashboard: ${message.type} failed: ${String(err)}`);
      this.notice('error', `${message.type} failed: ${errorMessage(err)}`);
    }
  }

  private async handle(m: WebviewMessage): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.loadWatch?.sawReady();
        this.postInit(m.range);
        this.scheduleLedger();
        void this.refreshLedger();
        return;
      case 'range':
        this.post({ type: 'reply', id: m.id, ok: true, data: rangeData(this.store, m.from, m.to, m.maxPoints) });
        return;
      case 'runStep':
        return this.runStep(m.step, m.gpu);
      case 'dryRun': {
        const latest = this.deps.watcher.latest;
        if (!latest) return this.notice('warning', 'No GPU reading yet: the dry run has nothing to measure.');
        const events = await this.deps.chain.dryRun(latest);
        if (this.canPost()) this.post({ type: 'dryRunPlan', plan: dryRunPlan(events, Date.now()) });
        this.postServers(true);
        return;
      }
      case 'setAuto':
        await this.deps.setFallbackMode(m.enabled ? 'auto' : 'confirm');
        this.postServers(true);
        return;
      case 'preflight':
        await vscode.commands.executeCommand(PREFLIGHT_COMMAND);
        return;
      case 'budgetSpike':
        await vscode.commands.executeCommand(SPIKE_COMMAND);
        return;
      case 'export':
        await vscode.commands.executeCommand(EXPORT_HISTORY_COMMAND, m.format);
        return;
      case 'import':
        await vscode.commands.executeCommand(IMPORT_HISTORY_COMMAND);
        return;
      case 'showLive':
        this.showLive();
        return;
      case 'fleetRefresh':
        if (!this.deps.fleet?.configured())
          return this.notice('warning', 'No fleet source: set vramGuard.fleet.prometheus or vramGuard.fleet.targets in your user settings.');
        await this.deps.fleet.refreshNow();
        return;
      case 'fleetWhereFits':
        await vscode.commands.executeCommand(FLEET_PREFLIGHT_COMMAND);
        return;
    }
  }

  private async runStep(index: number, gpu: number): Promise<void> {
    const steps = this.deps.steps();
    const step = steps[index];
    if (!step) return this.notice('error', `There is no fallback step ${index + 1} (the chain has ${steps.length}).`);
    const latest = this.deps.watcher.latest;
    const reading = latest ? readingsOf(latest).find((r) => r.gpu === gpu) : undefined;
    if (!reading) return this.notice('error', `GPU ${gpu} has no reading now, so the step has nothing to measure.`);
    this.notice('info', `Running step ${index + 1} (${step.label}) on GPU ${gpu}…`);
    const event = await this.deps.chain.runStep(index, reading);
    this.postServers(true);
    if (!event) return;
    const figures = event.usedAfter !== null ? ` ${Math.round(event.usedBefore / MiB)} → ${Math.round(event.usedAfter / MiB)} MiB.` : '';
    this.notice(event.result === 'done' ? 'info' : 'warning', `Step ${event.step + 1} ${event.result}: ${event.message}.${figures}`);
  }

  private postInit(range: RangeName): void {
    const latest = this.mode.kind === 'live' ? this.deps.watcher.latest : null;
    const bounds = this.store.bounds();
    const now = this.mode.kind === 'live' ? Date.now() : (bounds?.last ?? Date.now());
    const to = Math.max(now, bounds?.last ?? 0);
    const from = range === 'all' ? (bounds?.first ?? to - RANGE_MS['1h']) : to - RANGE_MS[range];
    const status = this.deps.watcher.status;
    const source =
      this.mode.kind === 'imported'
        ? `Imported ${this.mode.format}: ${this.mode.title}`
        : status.state === 'ready'
          ? status.source.description
          : status.state === 'none'
            ? `No GPU: ${status.reason}`
            : 'Looking for a GPU…';
    const live = this.mode.kind === 'live';
    const trends = this.trends();
    this.lastTrendAt = now;
    this.lastTrends = JSON.stringify(trends);
    this.post({
      type: 'init',
      snapshot: {
        mode: this.mode,
        source,
        now,
        bounds,
        gpus: gpuInfos(latest, this.store, this.deps.thresholds()),
        range,
        data: rangeData(this.store, from, to, INIT_POINTS),
        markers: this.store.events().map(markerOf),
        processes: live ? processTables(this.ledger) : [],
        servers: live ? serverCards(this.deps.servers.all(), this.ledger, this.deps.uptimeTargetHours?.()) : [],
        chain: chainView(this.deps.steps(), this.deps.fallbackMode(), this.deps.chain.events, this.deps.chain.busy),
        fleet: live && this.deps.fleet?.latest ? fleetView(this.deps.fleet.latest) : null,
        trends,
      },
    });
  }

  /** The verdicts of the history shown: the live one with its process lists, an imported log without. */
  private trends() {
    return gpuTrends(this.mode.kind === 'live' ? (this.deps.trend ?? new LiveTrend()) : new LiveTrend(), this.store);
  }

  private postTrends(now: number): void {
    this.lastTrendAt = now;
    const trends = this.trends();
    const key = JSON.stringify(trends);
    if (key === this.lastTrends) return;
    this.lastTrends = key;
    this.post({ type: 'trend', trends });
  }

  private postServers(force = false): void {
    if (!this.canPost()) return;
    const servers = serverCards(this.deps.servers.all(), this.ledger, this.deps.uptimeTargetHours?.());
    const chain = chainView(this.deps.steps(), this.deps.fallbackMode(), this.deps.chain.events, this.deps.chain.busy);
    const key = JSON.stringify([servers, chain]);
    if (!force && key === this.lastServers) return;
    this.lastServers = key;
    this.post({ type: 'servers', servers, chain });
  }

  private scheduleLedger(): void {
    if (this.ledgerTimer !== null) clearInterval(this.ledgerTimer);
    this.ledgerTimer = null;
    if (this.disposed || !this.panel.visible) return;
    this.ledgerTimer = setInterval(() => void this.refreshLedger(), LEDGER_EVERY_MS);
  }

  private async refreshLedger(): Promise<void> {
    // The table shows the processes: list them now rather than repeat the watcher's last list.
    const latest = this.disposed || !this.panel.visible ? null : await this.deps.watcher.sampleNow();
    if (!latest || this.disposed || !this.panel.visible) return;
    try {
      this.ledger = await collectLedger(latest.sample, this.deps.servers.owners(), {
        timeoutMs: 1000,
        log: (m) => this.deps.log.warn(m),
        told: this.toldServerProblems,
        reservations: (await this.deps.reservations?.list().catch(() => [])) ?? [],
        recogniser: this.recogniser,
      });
    } catch (err) {
      this.deps.log.warn(`dashboard: could not read the processes: ${String(err)}`);
      return;
    }
    if (!this.canPost() || this.mode.kind !== 'live') return;
    const tables = processTables(this.ledger);
    const key = JSON.stringify(tables);
    if (key !== this.lastProcesses) {
      this.lastProcesses = key;
      this.post({ type: 'processes', tables });
    }
    this.postServers();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.loadWatch?.dispose();
    if (this.ledgerTimer !== null) clearInterval(this.ledgerTimer);
    this.recogniser.dispose();
    for (const off of this.offs) off();
    for (const d of this.disposables) d.dispose();
    this.panel.dispose();
  }
}
