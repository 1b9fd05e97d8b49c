/**
 * The one owner of VRAM Guard's state and lifetime in VS Code: the settings, the watcher, the model
 * servers, the fallback chain, the history store and its recorder, the status bar, notifications,
 * the dashboard and every command. Each feature folder's `activate…(ctx)` takes this context (its
 * state is read here, never copied into a feature's own object) and registers what it starts into
 * the context's one Lifetime; the commands are one table (commands.ts), registered in one loop.
 * Everything is stopped once, in `dispose`, last started first: stop listening (the exporter's port
 * too), stop the servers, stop the watcher, write the history out, close the log.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { errorMessage } from '../core/errors.ts';
import { reportListenerErrorsTo } from '../core/events.ts';
import { FallbackChain } from '../core/fallback/chain.ts';
import { chainSteps } from '../core/fallback/config.ts';
import { OutsideServerExecutor } from '../core/fallback/outside-executor.ts';
import { gpuProcesses } from '../core/fallback/outside-processes.ts';
import { ServerExecutor } from '../core/fallback/server-executor.ts';
import { ProcessRecogniser } from '../core/servers/recognition/recogniser.ts';
import { nextSampleUsed } from '../core/fallback/watcher-reading.ts';
import type { FallbackMode, FallbackStep } from '../core/servers/fallback-steps.ts';
import { probeSource, type ProbeResult } from '../core/gpu/probe.ts';
import { probeOptionsFromSettings, sourceSettingsChanged } from '../core/gpu/source-registry.ts';
import { recordHistory } from '../core/history/recorder.ts';
import { HistoryStore } from '../core/history/store.ts';
import { detailsMarkdown } from '../core/report/details-markdown.ts';
import { FootprintStore } from '../core/estimate/measured-footprints.ts';
import { GpuLock, gpuLockPath } from '../core/servers/gpu-lock.ts';
import { collectLedger } from '../core/servers/ledger.ts';
import { ledgerView, type LedgerView } from '../core/servers/ledger-view.ts';
import { preflightGate } from '../core/checks/preflight-gate.ts';
import type { VramGate } from '../core/servers/vram-gate.ts';
import type { ThresholdSpec } from '../core/watch/thresholds.ts';
import { ReservationBook, reservationsPath } from '../core/servers/reservations.ts';
import { ServerRegistry } from '../core/servers/server-registry.ts';
import { TaskRecordBook, taskRecordsPath } from '../core/servers/task-records.ts';
import { syncTaskRecords } from '../core/servers/task-records-sync.ts';
import { serverViews } from '../core/servers/server-view.ts';
import { LiveTrend } from '../core/trend/live-trend.ts';
import type { TrendWatch } from '../core/trend/trend-watch.ts';
import { Lifetime, type Owned } from '../core/lifetime.ts';
import { formatMiB } from '../core/units.ts';
import type { LevelTransition } from '../core/watch/classifier.ts';
import { levelLabel } from '../core/watch/levels.ts';
import { Watcher, type GpuReading } from '../core/watch/watcher.ts';
import type { ExtensionState, VramGuardApi } from './api.ts';
import { registerCommands } from './commands.ts';
import { Configuration } from './configuration.ts';
import { activateDashboard, type DashboardHandle } from './dashboard/dashboard-panel.ts';
import { activateExporter } from './exporter/exporter-service.ts';
import { confirmStep } from './fallback/fallback-commands.ts';
import { userOllamaUrls } from './fallback/ollama-url.ts';
import { MarkdownViews } from './notifications/markdown-view.ts';
import { leakNotifier } from './notifications/leak-notifier.ts';
import { activateLevelNotifications } from './notifications/notifier.ts';
import { activateServerTasks } from './servers/server-tasks.ts';
import { syncServersFile } from './servers/servers-file-sync.ts';
import { followUnitJournals } from './servers/unit-journal-cascades.ts';
import { activateStatusBar } from './status-bar/status-bar.ts';
import { activateTerminalCli, type TerminalCliHandle } from './terminal/terminal-cli.ts';
import { fleetLine } from '../core/fleet/fleet-summary.ts';
import { PrometheusToken } from './fleet/fleet-token.ts';
import { FleetWatch } from './fleet/fleet-watch.ts';

/** Level changes kept for the details view. */
const RECENT_TRANSITIONS = 50;

export class VramGuardContext {
  readonly log: vscode.LogOutputChannel;
  readonly config: Configuration;
  readonly watcher: Watcher;
  readonly servers = new ServerRegistry();
  readonly chain: FallbackChain;
  readonly history: HistoryStore;
  /** Measured footprints live in the global storage (the CLI finds it there). */
  readonly footprints: FootprintStore;
  /** Memory reserved by gates that passed, shared by every window and the CLI of this user and machine. */
  readonly reservations = new ReservationBook(reservationsPath());
  readonly activationMs: number;
  /** Other hosts' GPUs, read from Prometheus or exporters while `vramGuard.fleet.*` names a source. */
  readonly fleet: FleetWatch;
  readonly prometheusToken: PrometheusToken;
  readonly extension: vscode.ExtensionContext;
  /** Read-only Markdown views (reports, details). */
  readonly views = new MarkdownViews();
  /** The watched GPUs' process lists over time, for the trend verdicts (dashboard, leak notification). */
  readonly trend = new LiveTrend();
  /** Settles once the saved history has been read. */
  readonly historyLoaded: Promise<unknown>;
  /** Held by an `exclusive` task while it runs. */
  readonly gpuLock = new GpuLock({ path: gpuLockPath() });
  /** The VRAM gate a task passes before its server starts. */
  readonly gate: VramGate;
  readonly dashboard: DashboardHandle;

  /** The trend's notifications (a leak, growth beyond a baseline, a RAM spill); its lines also go in the status bar's tooltip. */
  readonly leakWatch: TrendWatch;

  private readonly statusBar: ReturnType<typeof activateStatusBar>;
  private readonly terminalCli: TerminalCliHandle;
  private readonly transitions: LevelTransition[] = [];
  private readonly stateListeners = new Set<() => void>();
  /** Everything this window started, stopped once in reverse order. */
  private readonly lifetime: Lifetime;

  constructor(extension: vscode.ExtensionContext) {
    const started = performance.now();
    this.extension = extension;
    this.log = vscode.window.createOutputChannel('VRAM Guard', { log: true });
    this.lifetime = new Lifetime((m) => this.log.error(m));
    // The log closes last; until then every emitter's failing listener is reported in it, by event.
    this.own(
      this.log,
      reportListenerErrorsTo((event, err) => this.log.error(`a listener of "${event}" failed: ${errorMessage(err)}`)),
    );
    this.config = new Configuration(this.log);
    const settings = this.config.current;
    this.watcher = new Watcher({
      openSource: (signal) => this.openSource(signal),
      thresholds: settings.general.thresholds,
      intervalMs: settings.general.sampleIntervalMs,
      adaptive: settings.general.adaptiveRate,
      processListIntervalMs: settings.general.processListIntervalSeconds * 1000,
      log: (m) => this.log.info(m),
    });
    // Steps act first on the servers tasks started, then on those started outside VRAM Guard (a service, a terminal).
    const outsideRecogniser = new ProcessRecogniser();
    this.own(outsideRecogniser);
    const outsideProcesses = gpuProcesses(
      () => this.watcher.latest?.sample ?? null,
      outsideRecogniser,
      () => this.servers.owners().map((o) => o.rootPid),
    );
    this.chain = new FallbackChain({
      steps: () => this.fallbackSteps(),
      mode: () => this.config.current.fallback.mode,
      executor: new OutsideServerExecutor({
        managed: new ServerExecutor({ registry: this.servers, isTrusted: () => vscode.workspace.isTrusted }),
        processes: outsideProcesses,
        ollamaUrls: userOllamaUrls((m) => this.log.warn(m)),
        isTrusted: () => vscode.workspace.isTrusted,
      }),
      readUsed: (gpu) => nextSampleUsed(this.watcher, gpu),
      confirm: confirmStep,
      cooldownMs: settings.fallback.cooldownMs,
      settleTimeoutMs: settings.fallback.settleTimeoutMs,
      log: (m) => this.log.info(m),
    });
    this.prometheusToken = new PrometheusToken(extension.secrets);
    this.fleet = new FleetWatch(this);
    this.footprints = new FootprintStore(extension.globalStorageUri.fsPath, (m) => this.log.warn(m));
    this.history = new HistoryStore({
      dir: vscode.Uri.joinPath(extension.globalStorageUri, 'history').fsPath,
      retentionMs: settings.history.retentionMs,
      maxFileBytes: settings.history.maxFileBytes,
      log: (m) => this.log.warn(m),
    });
    this.leakWatch = leakNotifier(this);
    this.historyLoaded = this.history.load().then(
      (s) =>
        this.log.info(
          `history: read ${s.records} records from ${s.files} file(s)${s.tornLines ? `, skipped ${s.tornLines} line(s) cut short by a crash` : ''}${s.badLines ? `, ${s.badLines} unreadable line(s)` : ''}`,
        ),
      (err: unknown) => this.log.warn(`history: could not read the saved history: ${String(err)}`),
    );
    const stopRecording = recordHistory({ store: this.history, watcher: this.watcher, chain: this.chain, registry: this.servers });
    this.gate = preflightGate(() => {
      const { preflight, general } = this.config.current;
      return {
        margin: preflight.margin,
        residualThreshold: preflight.residualThreshold,
        thresholds: general.thresholds,
        ownedPids: this.ownedPids(),
        footprints: this.footprints,
        reservations: this.reservations,
        // llama-fit-params is an executable found beside the task's llama-server: trusted workspaces only.
        askLlamaFit: vscode.workspace.isTrusted,
        log: (m: string) => this.log.warn(m),
      };
    });

    this.own(
      () => this.history.close(), // writes what is queued
      () => this.watcher.stop(),
      () => this.servers.stopAll(),
      this.config,
    );
    this.terminalCli = activateTerminalCli(this);
    this.statusBar = activateStatusBar(this);
    this.own(
      this.views,
      stopRecording,
      ...this.subscribeToWatcher(),
      this.config.onDidChange((now, before) => this.applySettings(now, before)),
      // Prometheus: this window's servers for a `vram-guard exporter` service, and the in-editor exporter when set.
      syncServersFile(this.servers, extension.globalStorageUri.fsPath, this.log),
      // Each task's uptime, restarts and last exit, for `vram-guard ledger` in a shell.
      syncTaskRecords(this.servers, new TaskRecordBook(taskRecordsPath(reservationsPath())), (m) => this.log.warn(m)),
      // The journals of the user units that hold a GPU, watched for CUDA-error cascades.
      followUnitJournals({ watcher: this.watcher, registry: this.servers, processes: outsideProcesses, log: this.log }),
    );
    activateLevelNotifications(this);
    activateExporter(this); // its port is free once dispose resolves
    activateServerTasks(this);
    this.dashboard = this.lifetime.add(activateDashboard(this));
    registerCommands(this);
    this.own(
      this.chain,
      this.fleet,
      this.fleet.on(() => this.refresh()),
      this.prometheusToken.onDidChange(() => void this.fleet.refreshNow()),
    );

    this.config.reportProblems();
    // A workspace can ask for the dashboard when it opens (the sample workspace does).
    if (settings.general.dashboardOpenOnStartup) {
      const opening = setTimeout(() => void this.openDashboardBeside(), 0);
      this.own(() => clearTimeout(opening));
    }
    // NVML loads after activation, never on the startup path.
    const kickoff = setTimeout(() => {
      this.watcher.start();
      this.fleet.configure();
    }, 0);
    this.own(() => clearTimeout(kickoff));
    this.activationMs = performance.now() - started;
    this.log.info(`activated in ${this.activationMs.toFixed(1)} ms`);
  }

  /** What `activate` returns: the state the status bar shows, the ledger and the servers. */
  api(): VramGuardApi {
    return {
      getState: () => this.state(),
      ledger: () => this.ledger(),
      servers: () => serverViews(this.servers),
      cliLauncher: () => this.terminalCli.launcher(),
      waitForState: (predicate, timeoutMs) => this.waitForState(predicate, timeoutMs),
    };
  }

  /** Stops everything once; later calls get the same promise. */
  dispose(): Promise<void> {
    return this.lifetime.dispose();
  }

  /** Owns each until dispose: stopped once, last added first. */
  own(...owned: Owned[]): void {
    for (const o of owned) this.lifetime.add(o);
  }

  /** A fresh sample, with process lists, for every decision that reads the GPU. */
  readonly readGpu = async (): Promise<GpuReading> => {
    await this.watcher.sampleNow();
    return this.watcher.reading();
  };

  /** Opens the GPU source the settings name; the watcher and the budget spike each hold their own. */
  openSource(signal?: AbortSignal): Promise<ProbeResult> {
    const s = this.config.current.general;
    return probeSource({
      ...probeOptionsFromSettings(s, (setting, bundled) => this.workspaceFile(setting, bundled)),
      signal,
      preference: s.source,
      log: (m) => this.log.info(m),
    });
  }

  /** A source's file setting (the replay's trace): relative to the workspace folder; empty, the file bundled with the extension. */
  private workspaceFile(setting: string, bundled: string | undefined): string {
    if (!setting) return bundled ? this.extension.asAbsolutePath(bundled) : setting;
    if (path.isAbsolute(setting)) return setting;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return folder ? path.join(folder, setting) : setting;
  }

  /** The chain in force: the setting's steps, then each running task's own. */
  fallbackSteps(): FallbackStep[] {
    return chainSteps(
      this.config.current.fallback.steps,
      this.servers.all().map((s) => ({ name: s.name, steps: s.task.fallback.steps })),
    );
  }

  /** The same list, as the dashboard reads it. */
  steps(): FallbackStep[] {
    return this.fallbackSteps();
  }

  /** `vramGuard.fallbackMode`. */
  fallbackMode(): FallbackMode {
    return this.config.current.fallback.mode;
  }

  setFallbackMode(mode: FallbackMode): Thenable<void> {
    return this.config.setFallbackMode(mode);
  }

  /** The thresholds in force. */
  thresholds(): ThresholdSpec {
    return this.config.current.general.thresholds;
  }

  /** `vramGuard.servers.uptimeTargetHours`. */
  uptimeTargetHours(): number {
    return this.config.current.general.uptimeTargetHours;
  }

  get extensionUri(): vscode.Uri {
    return this.extension.extensionUri;
  }

  /** The PIDs at the root of the servers tasks started. */
  ownedPids(): Set<number> {
    return new Set(this.servers.owners().map((o) => o.rootPid));
  }

  private subscribeToWatcher(): (() => unknown)[] {
    const w = this.watcher;
    return [
      w.on('sample', (watched) => this.chain.onSample(watched)),
      // A cascade in a server's output: the chain's `cascade` steps act on that server.
      this.servers.on('cascade', (c) => this.chain.onCascade({ name: c.server, kind: c.kind, gpu: c.gpu }, w.latest)),
      w.on('sample', (watched) => void this.leakWatch.onSample(watched.sample)),
      w.on('status', (status) => {
        if (status.state === 'none') this.log.info(`no GPU to watch: ${status.reason}`);
        if (status.state === 'ready' && status.source.kind === 'replay') this.log.warn(`SIMULATED GPU: ${status.source.description}`);
        this.refresh();
      }),
      w.on('sample', () => this.refresh()),
      w.on('error', (err) => this.log.warn(`sample failed: ${err.message}`)),
      w.on('problems', (problems) => this.config.setProblems('thresholds', problems)),
      w.on('transition', (t) => {
        this.transitions.push(t);
        if (this.transitions.length > RECENT_TRANSITIONS) this.transitions.shift();
        this.log.info(`GPU ${t.gpu}: ${levelLabel(t.from)} → ${levelLabel(t.to)} at ${formatMiB(t.usedBytes)} of ${formatMiB(t.totalBytes)}`);
      }),
    ];
  }

  private async openDashboardBeside(): Promise<void> {
    try {
      await this.dashboard.openBeside();
    } catch (err) {
      this.log.warn(`dashboard: could not open on startup: ${String(err)}`);
    }
  }

  /** A settings change: every part takes its new values; the source is re-probed only when it changed. */
  private applySettings(now: VramGuardContext['config']['current'], before: VramGuardContext['config']['current']): void {
    const g = now.general;
    this.chain.configure({ cooldownMs: now.fallback.cooldownMs, settleTimeoutMs: now.fallback.settleTimeoutMs });
    this.watcher.setThresholds(g.thresholds);
    this.watcher.setRate(g.sampleIntervalMs, g.adaptiveRate, g.processListIntervalSeconds * 1000);
    this.history.setLimits(now.history);
    if (JSON.stringify(now.fleet) !== JSON.stringify(before.fleet)) this.fleet.configure();
    if (sourceSettingsChanged(before.general, g)) this.watcher.reprobe();
    this.refresh();
  }

  private refresh(): void {
    this.statusBar.update();
    for (const listener of this.stateListeners) listener();
  }

  /** "Show GPU Details": the watcher's state, fresh, with its recent level changes and the settings' problems. */
  async showDetails(): Promise<void> {
    await this.watcher.sampleNow(); // with fresh process lists
    await this.views.show(
      'GPU details',
      detailsMarkdown({ status: this.watcher.status, latest: this.watcher.latest, transitions: this.transitions, settingsProblems: this.config.problems() }),
    );
  }

  private state(): ExtensionState {
    const status = this.watcher.status;
    return {
      source: status.state === 'ready' ? { kind: status.source.kind, description: status.source.description } : null,
      noSourceReason: status.state === 'none' ? status.reason : null,
      sample: this.watcher.latest?.sample ?? null,
      levels: this.watcher.latest?.levels ?? [],
      settingsProblems: this.config.problems(),
      statusBarText: this.statusBar.view.text,
      activationMs: this.activationMs,
      fleetLine: this.fleet.latest ? fleetLine(this.fleet.latest) : null,
    };
  }

  private async ledger(): Promise<LedgerView> {
    const latest = this.watcher.latest;
    if (!latest) return { timestamp: null, gpus: [] };
    const reservations = await this.reservations.list().catch(() => []);
    return ledgerView(await collectLedger(latest.sample, this.servers.owners(), { reservations }), latest.sample.timestamp);
  }

  private waitForState(predicate: (state: ExtensionState) => boolean, timeoutMs: number): Promise<ExtensionState> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const state = this.state();
        if (!predicate(state)) return;
        done();
        resolve(state);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`VRAM Guard state did not match within ${timeoutMs} ms; last state: ${JSON.stringify(this.state())}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.stateListeners.delete(check);
      };
      this.stateListeners.add(check);
      check();
    });
  }
}
