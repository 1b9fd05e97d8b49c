/**
 * The trend's one notification: a GPU that leaks (never a step or a burst), once per leak, judged
 * every minute from the live history and the watcher's process lists.
 */
import * as vscode from 'vscode';
import type { HistoryStore } from '../core/history/store.ts';
import { LeakAlerts } from '../core/trend/leak-alerts.ts';
import type { LiveTrend } from '../core/trend/live-trend.ts';
import type { WatchedSample } from '../core/watch/watcher.ts';
import { judgeGpu } from './dashboard-data.ts';
import { OPEN_DASHBOARD_COMMAND } from './dashboard-panel.ts';

const CHECK_EVERY_MS = 60_000;

export class LeakNotifier {
  private readonly alerts = new LeakAlerts();
  private readonly trend: LiveTrend;
  private readonly history: HistoryStore;
  private readonly log: (line: string) => void;
  private lastCheck = 0;

  constructor(trend: LiveTrend, history: HistoryStore, log: (line: string) => void) {
    this.trend = trend;
    this.history = history;
    this.log = log;
  }

  /** Feeds the sample's process lists to the trend; once a minute, judges every GPU and tells of a new leak. */
  onSample(w: WatchedSample): void {
    const t = w.sample.timestamp;
    for (const d of w.sample.devices) if (d.memory) this.trend.onProcesses(d.index, t, d.processes);
    if (t - this.lastCheck < CHECK_EVERY_MS) return;
    this.lastCheck = t;
    const analyses = this.history.gpus().map((gpu) => judgeGpu(this.trend, this.history, gpu));
    for (const alert of this.alerts.check(analyses)) {
      const message = `VRAM Guard: GPU ${alert.gpu} is ${alert.text}.`;
      this.log(message);
      void vscode.window.showWarningMessage(message, 'Open Dashboard').then((choice) => {
        if (choice === 'Open Dashboard') void vscode.commands.executeCommand(OPEN_DASHBOARD_COMMAND);
      });
    }
  }
}
