/**
 * VRAM Guard's entry point: composes the watcher, the status bar, notifications and commands.
 * Activation does no I/O: the GPU is probed right after, off the startup path.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { FallbackChain } from './core/fallback/chain.ts';
import { chainSteps, readFallbackSettings } from './core/fallback/config.ts';
import { ServerExecutor } from './core/fallback/server-executor.ts';
import { nextSampleUsed } from './core/fallback/watcher-reading.ts';
import { probeSource } from './core/gpu/probe.ts';
import { GpuLock } from './core/servers/gpu-lock.ts';
import { collectLedger } from './core/servers/ledger.ts';
import { ledgerView } from './core/servers/ledger-view.ts';
import { preflightGate } from './core/servers/preflight-gate.ts';
import { ServerRegistry } from './core/servers/server-registry.ts';
import { serverViews } from './core/servers/server-view.ts';
import type { LevelTransition } from './core/watch/classifier.ts';
import { levelLabel } from './core/watch/levels.ts';
import { Watcher } from './core/watch/watcher.ts';
import { detailsMarkdown } from './core/report/details-markdown.ts';
import { formatMiB } from './core/units.ts';
import { registerAecCommand } from './vscode/aec-command.ts';
import { registerDashboard, type DashboardHandle } from './vscode/dashboard-panel.ts';
import { registerExporterService, type ExporterService } from './vscode/exporter-service.ts';
import type { ExtensionState, VramGuardApi } from './vscode/api.ts';
import { confirmStep, registerFallbackCommands } from './vscode/fallback-commands.ts';
import { MarkdownViews } from './vscode/markdown-view.ts';
import { registerPreflightCommand } from './vscode/preflight-command.ts';
import { preflightFallbackAction } from './vscode/preflight-fallback.ts';
import { readPreflightSettings } from './vscode/preflight-settings.ts';
import { LevelNotifier } from './vscode/notifier.ts';
import { registerServerTasks } from './vscode/server-tasks.ts';
import { registerSpikeCommand } from './vscode/spike-command.ts';
import { syncServersFile } from './vscode/servers-file-sync.ts';
import { readSettings, type Settings } from './vscode/settings.ts';
import { GpuStatusBar, SHOW_DETAILS_COMMAND } from './vscode/status-bar.ts';

const RECENT_TRANSITIONS = 50;

let running: { watcher: Watcher; servers: ServerRegistry; dashboard: DashboardHandle; exporter: ExporterService } | undefined;

export function activate(context: vscode.ExtensionContext): VramGuardApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('VRAM Guard', { log: true });
  const readConfig = (): Settings => readSettings(configGetter());
  let settings = readConfig();
  const statusBar = new GpuStatusBar();
  const views = new MarkdownViews();
  const notifier = new LevelNotifier({ notifyOnWarning: settings.notifyOnWarning, minIntervalMs: settings.notificationMinIntervalSeconds * 1000 });
  const transitions: LevelTransition[] = [];
  let thresholdProblems: string[] = [];
  const stateListeners = new Set<() => void>();

  /** Opens the GPU source the settings name; the watcher and the budget spike each hold their own. */
  const openSource = () =>
    probeSource({
      preference: settings.source,
      nvmlLibraryPath: settings.nvmlLibraryPath || undefined,
      nvidiaSmiPath: settings.nvidiaSmiPath,
      replayFile: replayFile(context, settings.replayFile),
      replaySpeed: settings.replaySpeed,
      log: (m) => log.info(m),
    });
  const watcher = new Watcher({
    openSource,
    thresholds: settings.thresholds,
    intervalMs: settings.sampleIntervalMs,
    adaptive: settings.adaptiveRate,
    log: (m) => log.info(m),
  });
  const servers = new ServerRegistry();

  const readFallback = () => readFallbackSettings(configGetter());
  let fallback = readFallback();
  const fallbackSteps = () => chainSteps(fallback.steps, servers.all().map((s) => ({ name: s.name, steps: s.task.fallback.steps })));
  const chain = new FallbackChain({
    steps: fallbackSteps,
    mode: () => fallback.mode,
    executor: new ServerExecutor({ registry: servers, isTrusted: () => vscode.workspace.isTrusted }),
    readUsed: (gpu) => nextSampleUsed(watcher, gpu),
    confirm: confirmStep,
    cooldownMs: fallback.cooldownMs,
    settleTimeoutMs: fallback.settleTimeoutMs,
    log: (m) => log.info(m),
  });
  watcher.on('sample', (w) => chain.onSample(w));
  const dashboard = registerDashboard({
    context,
    watcher,
    servers,
    chain,
    steps: fallbackSteps,
    fallbackMode: () => fallback.mode,
    thresholds: () => settings.thresholds,
    log,
  });
  const exporter = registerExporterService({ watcher, registry: servers, log });
  running = { watcher, servers, dashboard, exporter };
  const readPreflight = () => readPreflightSettings(configGetter());
  const ownedPids = () => new Set(servers.owners().map((o) => o.rootPid));

  const refresh = () => {
    statusBar.update({ status: watcher.status, latest: watcher.latest, gpu: settings.statusBarGpu, hideWhenNoGpu: settings.hideWhenNoGpu });
    for (const listener of stateListeners) listener();
  };

  const settingsProblems = () => [...settings.problems, ...fallback.problems, ...thresholdProblems];
  let shownProblems = '';
  const reportProblems = () => {
    const problems = settingsProblems();
    const key = problems.join('\n');
    if (key === shownProblems) return;
    shownProblems = key;
    if (!problems.length) return;
    for (const p of problems) log.warn(p);
    const text = problems.length === 1 ? problems[0]! : `${problems.length} settings problems: ${problems.join(' ')}`;
    void vscode.window.showWarningMessage(`VRAM Guard: ${text}`, 'Open Settings').then((choice) => {
      if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', 'vramGuard');
    });
  };

  watcher.on('status', (status) => {
    if (status.state === 'none') log.info(`no GPU to watch: ${status.reason}`);
    if (status.state === 'ready' && status.source.kind === 'replay') log.warn(`SIMULATED GPU: ${status.source.description}`);
    refresh();
  });
  watcher.on('sample', refresh);
  watcher.on('error', (err) => log.warn(`sample failed: ${err.message}`));
  watcher.on('problems', (problems) => {
    thresholdProblems = problems;
    reportProblems();
  });
  watcher.on('transition', (t) => {
    transitions.push(t);
    if (transitions.length > RECENT_TRANSITIONS) transitions.shift();
    log.info(`GPU ${t.gpu}: ${levelLabel(t.from)} → ${levelLabel(t.to)} at ${formatMiB(t.usedBytes)} of ${formatMiB(t.totalBytes)}`);
    notifier.onTransition(t);
  });

  const showDetails = async () => {
    await views.show('GPU details', detailsMarkdown({ status: watcher.status, latest: watcher.latest, transitions, settingsProblems: settingsProblems() }));
  };

  context.subscriptions.push(
    log,
    statusBar,
    views,
    vscode.commands.registerCommand(SHOW_DETAILS_COMMAND, showDetails),
    // Prometheus: this window's servers for a `vram-guard exporter` service, and the in-editor exporter when set.
    syncServersFile(servers, context.globalStorageUri.fsPath, log),
    exporter,
    registerPreflightCommand({
      views,
      log,
      readSettings: () => ({ thresholds: settings.thresholds, preflight: readPreflight() }),
      currentGpu: async () => watcher.reading(),
      ownedPids,
      // "Start anyway" belongs to a task's gate (server-tasks.ts), where there is a server to start.
      actions: { runFallbackChain: preflightFallbackAction({ chain, latest: () => watcher.latest, views, log }) },
    }),
    registerServerTasks({
      registry: servers,
      lock: new GpuLock(),
      readGpu: async () => watcher.reading(),
      log,
      stopTimeoutMs: () => fallback.stopTimeoutMs,
      gate: preflightGate(() => {
        const p = readPreflight();
        return { margin: p.margin, residualThreshold: p.residualThreshold, thresholds: settings.thresholds, ownedPids: ownedPids() };
      }),
    }),
    // The spike opens its own source: the peak needs 10 samples a second, faster than the watcher.
    registerSpikeCommand({ views, log, readThresholds: () => settings.thresholds, openSource, onServerLeftRunning: (s) => servers.adopt(s) }),
    registerAecCommand(views, log),
    dashboard,
    registerFallbackCommands({ chain, registry: servers, steps: fallbackSteps, latest: () => watcher.latest, views, log }),
    { dispose: () => chain.dispose() },
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('vramGuard')) return;
      const before = settings;
      settings = readConfig();
      fallback = readFallback();
      chain.configure({ cooldownMs: fallback.cooldownMs, settleTimeoutMs: fallback.settleTimeoutMs });
      notifier.policy.options = { notifyOnWarning: settings.notifyOnWarning, minIntervalMs: settings.notificationMinIntervalSeconds * 1000 };
      watcher.setThresholds(settings.thresholds);
      watcher.setRate(settings.sampleIntervalMs, settings.adaptiveRate);
      if (
        before.source !== settings.source ||
        before.nvmlLibraryPath !== settings.nvmlLibraryPath ||
        before.nvidiaSmiPath !== settings.nvidiaSmiPath ||
        before.replayFile !== settings.replayFile ||
        before.replaySpeed !== settings.replaySpeed
      ) {
        watcher.reprobe();
      }
      reportProblems();
      refresh();
    }),
    { dispose: () => void watcher.stop() },
  );

  reportProblems();
  // NVML loads after activation, never on the startup path.
  const kickoff = setTimeout(() => watcher.start(), 0);
  context.subscriptions.push({ dispose: () => clearTimeout(kickoff) });
  const activationMs = performance.now() - started;
  log.info(`activated in ${activationMs.toFixed(1)} ms`);

  const getState = (): ExtensionState => {
    const status = watcher.status;
    return {
      source: status.state === 'ready' ? { kind: status.source.kind, description: status.source.description } : null,
      noSourceReason: status.state === 'none' ? status.reason : null,
      sample: watcher.latest?.sample ?? null,
      levels: watcher.latest?.levels ?? [],
      settingsProblems: settingsProblems(),
      statusBarText: statusBar.view.text,
      activationMs,
    };
  };

  return {
    getState,
    ledger: async () => {
      const latest = watcher.latest;
      return latest ? ledgerView(await collectLedger(latest.sample, servers.owners()), latest.sample.timestamp) : { timestamp: null, gpus: [] };
    },
    servers: () => serverViews(servers),
    waitForState: (predicate, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const state = getState();
          if (!predicate(state)) return false;
          done();
          resolve(state);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`VRAM Guard state did not match within ${timeoutMs} ms; last state: ${JSON.stringify(getState())}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          stateListeners.delete(listener);
        };
        const listener = () => void check();
        stateListeners.add(listener);
        check();
      }),
  };
}

/** Reads `vramGuard.*` settings as they are now, for the validators (which never see VS Code). */
function configGetter(): (key: string) => unknown {
  const config = vscode.workspace.getConfiguration('vramGuard');
  return (key) => config.get(key);
}

/** The trace for `replay`: the setting (relative to the workspace folder), else the bundled one. */
function replayFile(context: vscode.ExtensionContext, setting: string): string {
  if (!setting) return context.asAbsolutePath(path.join('media', 'traces', 'a1000-4gb-speech-cascade.jsonl'));
  if (path.isAbsolute(setting)) return setting;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return folder ? path.join(folder, setting) : setting;
}

export async function deactivate(): Promise<void> {
  const current = running;
  running = undefined;
  await current?.exporter.close();
  await current?.servers.stopAll();
  await current?.watcher.stop();
  await current?.dashboard.close(); // flushes the history
}
