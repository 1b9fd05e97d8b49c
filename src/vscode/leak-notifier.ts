/**
 * The trend's notifications: a GPU that leaks (never a step or a burst), once per leak, judged every
 * minute from the live history and the watcher's process lists; and a server process that grows
 * beyond its settled baseline by more than the delta (`vramGuard.leak.*`), once. The verdicts are
 * kept for the status bar's tooltip.
 */
import * as vscode from 'vscode';
import type { GpuProcess } from '../core/gpu/types.ts';
import type { HistoryStore } from '../core/history/store.ts';
import type { GpuLedger } from '../core/servers/ledger.ts';
import { type BaselineOptions, ServerBaselines } from '../core/trend/baselines.ts';
import { LeakAlerts } from '../core/trend/leak-alerts.ts';
import { type LiveTrend, trendProcesses } from '../core/trend/live-trend.ts';
import { grewMost, type ProcessRss, readRssTable } from '../core/trend/process-rss.ts';
import { SpillDetector, type SpillOptions, type SystemEvent } from '../core/trend/spill.ts';
import type { WatchedSample } from '../core/watch/watcher.ts';
import { judgeGpu, serverLabels } from './dashboard-data.ts';
import { OPEN_DASHBOARD_COMMAND } from './dashboard-panel.ts';

const CHECK_EVERY_MS = 60_000;

export class LeakNotifier {
  private readonly alerts = new LeakAlerts();
  private readonly trend: LiveTrend;
  private readonly history: HistoryStore;
  private readonly log: (line: string) => void;
  private lastCheck = 0;
  private verdicts: string[] = [];
  /** Processes of known servers, by PID: "ollama (llama3.2:3b)". */
  private labels = new Map<number, string>();
  private readonly ledger: () => Promise<GpuLedger[]>;
  /** Each server process's settled footprint, and growth beyond it. */
  private readonly baselines = new ServerBaselines();
  private readonly deltas: () => BaselineOptions;
  /** GPU:PID of the processes a leak notification named. */
  private readonly toldLeaks = new Set<string>();
  /** RAM and swap beside VRAM: spills and low RAM. */
  private readonly spills = new SpillDetector();
  private readonly spillOptions: () => SpillOptions;
  /** Every process's RSS a minute ago, to name the one behind a spill. */
  private rssBefore: Map<number, ProcessRss> | null = null;

  constructor(
    trend: LiveTrend,
    history: HistoryStore,
    ledger: () => Promise<GpuLedger[]>,
    deltas: () => BaselineOptions,
    spillOptions: () => SpillOptions,
    log: (line: string) => void,
  ) {
    this.trend = trend;
    this.history = history;
    this.ledger = ledger;
    this.deltas = deltas;
    this.spillOptions = spillOptions;
    this.log = log;
  }

  /** The last verdicts, one line per GPU ("GPU 0: steady for 10 h 50 min — not a leak"). */
  lines(): readonly string[] {
    return this.verdicts;
  }

  /** Feeds the sample's process lists to the trend; once a minute, judges every GPU and tells of a new leak. */
  onSample(w: WatchedSample): void {
    const t = w.sample.timestamp;
    const label = (p: GpuProcess) => this.labels.get(p.pid) ?? null;
    this.baselines.set(this.deltas());
    for (const d of w.sample.devices) {
      if (!d.memory) continue;
      const list = trendProcesses(d.processes, label);
      this.trend.onList(d.index, t, list);
      for (const grew of this.baselines.observe(d.index, t, list)) {
        // A leak already told for this process is not told again as growth beyond its baseline.
        if (!this.toldLeaks.has(`${grew.gpu}:${grew.pid}`)) this.tell(`VRAM Guard: GPU ${grew.gpu}: ${grew.text}.`);
      }
    }
    const system = this.history.latestSystem();
    if (system) {
      this.spills.set(this.spillOptions());
      for (const e of this.spills.observe(t, system)) void this.tellSystem(e);
    }
    if (t - this.lastCheck < CHECK_EVERY_MS) return;
    this.lastCheck = t;
    if (system)
      readRssTable().then(
        (rss) => (this.rssBefore = rss),
        () => {},
      );
    this.ledger().then(
      (ledger) => (this.labels = serverLabels(ledger)),
      () => {},
    );
    const analyses = this.history.gpus().map((gpu) => judgeGpu(this.trend, this.history, gpu));
    this.verdicts = analyses.flatMap((a) => (a ? [`GPU ${a.gpu}: ${a.verdict.text}`] : []));
    for (const alert of this.alerts.check(analyses)) {
      for (const pid of alert.pids) this.toldLeaks.add(`${alert.gpu}:${pid}`);
      this.tell(`VRAM Guard: GPU ${alert.gpu} is ${alert.text}.`);
    }
  }

  /** A spill names the process whose RSS grew the most since a minute ago, and is a marker on the chart. */
  private async tellSystem(e: SystemEvent): Promise<void> {
    let who = '';
    if (e.kind === 'spill' && this.rssBefore) {
      const grew = grewMost(this.rssBefore, await readRssTable());
      if (grew) who = `: ${grew.process.name} (PID ${grew.process.pid}) grew ${Math.round(grew.grewMiB)} MiB`;
    }
    const text = e.kind === 'spill' ? `RAM spill: ${e.text}${who}` : `Low RAM: ${e.text}`;
    this.history.recordEvent({ t: e.end, kind: 'note', gpu: null, text, level: null, usedBefore: null, usedAfter: null });
    this.tell(`VRAM Guard: ${text}${e.kind === 'spill' ? ' — memory moving out of VRAM into RAM and swap' : ''}.`);
  }

  private tell(message: string): void {
    this.log(message);
    void vscode.window.showWarningMessage(message, 'Open Dashboard').then((choice) => {
      if (choice === 'Open Dashboard') void vscode.commands.executeCommand(OPEN_DASHBOARD_COMMAND);
    });
  }
}
