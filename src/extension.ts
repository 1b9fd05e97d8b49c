/**
 * VRAM Guard's entry point: composes the watcher, the status bar, notifications and commands.
 * Activation does no I/O: the GPU is probed right after, off the startup path.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { probeSource } from './core/gpu/probe.ts';
import type { LevelTransition } from './core/watch/classifier.ts';
import { levelLabel } from './core/watch/levels.ts';
import { Watcher } from './core/watch/watcher.ts';
import { detailsMarkdown } from './core/report/details-markdown.ts';
import { formatMiB } from './core/units.ts';
import type { ExtensionState, VramGuardApi } from './vscode/api.ts';
import { MarkdownViews } from './vscode/markdown-view.ts';
import { registerPreflightCommand } from './vscode/preflight-command.ts';
import { readPreflightSettings } from './vscode/preflight-settings.ts';
import { LevelNotifier } from './vscode/notifier.ts';
import { readSettings, type Settings } from './vscode/settings.ts';
import { GpuStatusBar, SHOW_DETAILS_COMMAND } from './vscode/status-bar.ts';

const RECENT_TRANSITIONS = 50;

let running: { watcher: Watcher } | undefined;

export function activate(context: vscode.ExtensionContext): VramGuardApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('VRAM Guard', { log: true });
  const readConfig = (): Settings => {
    const config = vscode.workspace.getConfiguration('vramGuard');
    return readSettings((key) => config.get(key));
  };
  let settings = readConfig();
  const statusBar = new GpuStatusBar();
  const views = new MarkdownViews();
  const notifier = new LevelNotifier({ notifyOnWarning: settings.notifyOnWarning, minIntervalMs: settings.notificationMinIntervalSeconds * 1000 });
  const transitions: LevelTransition[] = [];
  let thresholdProblems: string[] = [];
  const stateListeners = new Set<() => void>();

  const watcher = new Watcher({
    openSource: () =>
      probeSource({
        preference: settings.source,
        nvmlLibraryPath: settings.nvmlLibraryPath || undefined,
        nvidiaSmiPath: settings.nvidiaSmiPath,
        replayFile: replayFile(context, settings.replayFile),
        replaySpeed: settings.replaySpeed,
        log: (m) => log.info(m),
      }),
    thresholds: settings.thresholds,
    intervalMs: settings.sampleIntervalMs,
    adaptive: settings.adaptiveRate,
    log: (m) => log.info(m),
  });
  running = { watcher };

  const refresh = () => {
    statusBar.update({ status: watcher.status, latest: watcher.latest, gpu: settings.statusBarGpu, hideWhenNoGpu: settings.hideWhenNoGpu });
    for (const listener of stateListeners) listener();
  };

  let shownProblems = '';
  const reportProblems = () => {
    const problems = [...settings.problems, ...thresholdProblems];
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
    await views.show('GPU details', detailsMarkdown({ status: watcher.status, latest: watcher.latest, transitions, settingsProblems: [...settings.problems, ...thresholdProblems] }));
  };

  context.subscriptions.push(
    log,
    statusBar,
    views,
    vscode.commands.registerCommand(SHOW_DETAILS_COMMAND, showDetails),
    registerPreflightCommand({
      views,
      log,
      readSettings: () => {
        const config = vscode.workspace.getConfiguration('vramGuard');
        return { thresholds: settings.thresholds, preflight: readPreflightSettings((key) => config.get(key)) };
      },
      currentGpu: async () => {
        const status = watcher.status;
        const latest = watcher.latest;
        if (status.state === 'none') return { ok: false, reason: status.reason };
        if (status.state !== 'ready' || !latest) return { ok: false, reason: 'the GPU is still being probed; run the check again in a moment' };
        return { ok: true, sample: latest.sample, description: status.source.description };
      },
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('vramGuard')) return;
      const before = settings;
      settings = readConfig();
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
      settingsProblems: [...settings.problems, ...thresholdProblems],
      statusBarText: statusBar.view.text,
      activationMs,
    };
  };

  return {
    getState,
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
  await current?.watcher.stop();
}
