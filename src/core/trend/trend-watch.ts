/**
 * The live judgement of the watched GPUs, and what is worth telling: a GPU that leaks (never a step
 * or a burst), once per leak, judged every minute from the history store and the watcher's process
 * lists; a server process that grows beyond its settled baseline by more than the delta, once
 * (unless its leak was told); a RAM spill, with the process whose resident memory grew, and low RAM.
 * The verdicts are kept for the status bar's tooltip. Pure but for the injected readers: the host
 * gives it samples and a way to tell.
 */
import type { GpuProcess, GpuSample } from '../gpu/types.ts';
import type { HistoryStore } from '../history/store.ts';
import type { GpuLedger } from '../servers/ledger.ts';
import { MiB } from '../units.ts';
import type { GpuAnalysis } from './analysis.ts';
import { type BaselineOptions, ServerBaselines } from './baselines.ts';
import { LeakAlerts } from './leak-alerts.ts';
import { type LiveTrend, trendProcesses } from './live-trend.ts';
import { grewMost, type ProcessRss } from './process-rss.ts';
import { SpillDetector, type SpillOptions, type SystemEvent } from './spill.ts';
import { type GpuTrend, gpuTrend } from './trend-view.ts';

/** How far back the trend analysis looks. */
export const TREND_WINDOW_MS = 24 * 3_600_000;
const CHECK_EVERY_MS = 60_000;

/** One GPU of the store judged over its last `windowMs` (to its newest point), with the process lists `live` kept. */
export function judgeGpu(live: LiveTrend, store: HistoryStore, gpu: number, windowMs = TREND_WINDOW_MS): GpuAnalysis | null {
  const last = store.bounds()?.last;
  if (last === undefined) return null;
  const p = store.range(`gpu:${gpu}`, last - windowMs, last);
  const total = store.totalOf(gpu);
  return live.judge(
    gpu,
    p.t,
    p.v.map((bytes) => bytes / MiB),
    total === null ? null : total / MiB,
  );
}

/** Every GPU of the store judged, as the dashboard shows it. */
export function gpuTrends(live: LiveTrend, store: HistoryStore, windowMs = TREND_WINDOW_MS): GpuTrend[] {
  const out: GpuTrend[] = [];
  for (const gpu of store.gpus()) {
    const a = judgeGpu(live, store, gpu, windowMs);
    if (a) out.push(gpuTrend(a));
  }
  return out;
}

/** Each server's GPU processes named by the server and the models it reports: "ollama (llama3.2:3b)". */
export function serverLabels(ledger: readonly GpuLedger[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const g of ledger) {
    for (const e of g.owned) {
      const models = (e.report?.models ?? []).map((m) => m.name).filter(Boolean);
      const label = models.length ? `${e.owner.name} (${models.join(', ')})` : e.owner.name;
      for (const p of e.processes) out.set(p.pid, label);
    }
  }
  return out;
}

export interface TrendWatchDeps {
  trend: LiveTrend;
  history: HistoryStore;
  /** The ledger, for the servers' names and models. */
  ledger: () => Promise<GpuLedger[]>;
  /** Every process's resident memory (/proc). */
  rss: () => Promise<Map<number, ProcessRss>>;
  deltas: () => BaselineOptions;
  spill: () => SpillOptions;
  /** Tells the user (a notification). */
  tell: (message: string) => void;
}

export class TrendWatch {
  private readonly deps: TrendWatchDeps;
  private readonly alerts = new LeakAlerts();
  private readonly baselines = new ServerBaselines();
  private readonly spills = new SpillDetector();
  /** GPU:PID of the processes a leak notification named. */
  private readonly toldLeaks = new Set<string>();
  private lastCheck = -Infinity;
  private verdicts: string[] = [];
  /** Processes of known servers, by PID. */
  private labels = new Map<number, string>();
  /** Every process's RSS at the last check, to name the one behind a spill. */
  private rssBefore: Map<number, ProcessRss> | null = null;

  constructor(deps: TrendWatchDeps) {
    this.deps = deps;
  }

  /** The last verdicts, one line per GPU ("GPU 0: steady for 10 h 50 min — not a leak"). */
  lines(): readonly string[] {
    return this.verdicts;
  }

  /**
   * One watched sample: its process lists feed the trend and the baselines; the system memory the
   * spill detector; once a minute every GPU is judged. Resolves when what it told is told (the host
   * need not wait).
   */
  async onSample(sample: GpuSample): Promise<void> {
    const { deps } = this;
    const t = sample.timestamp;
    const label = (p: GpuProcess) => this.labels.get(p.pid) ?? null;
    this.baselines.set(deps.deltas());
    for (const d of sample.devices) {
      if (!d.memory) continue;
      const list = trendProcesses(d.processes, label);
      deps.trend.onList(d.index, t, list);
      for (const grew of this.baselines.observe(d.index, t, list)) {
        // A leak already told for this process is not told again as growth beyond its baseline.
        if (!this.toldLeaks.has(`${grew.gpu}:${grew.pid}`)) deps.tell(`VRAM Guard: GPU ${grew.gpu}: ${grew.text}.`);
      }
    }
    const system = deps.history.latestSystem();
    const told: Array<Promise<void>> = [];
    if (system) {
      this.spills.set(deps.spill());
      for (const e of this.spills.observe(t, system)) told.push(this.tellSystem(e));
    }
    if (t - this.lastCheck >= CHECK_EVERY_MS) {
      this.lastCheck = t;
      const analyses = deps.history.gpus().map((gpu) => judgeGpu(deps.trend, deps.history, gpu));
      this.verdicts = analyses.flatMap((a) => (a ? [`GPU ${a.gpu}: ${a.verdict.text}`] : []));
      for (const alert of this.alerts.check(analyses)) {
        for (const pid of alert.pids) this.toldLeaks.add(`${alert.gpu}:${pid}`);
        deps.tell(`VRAM Guard: GPU ${alert.gpu} is ${alert.text}.`);
      }
      told.push(
        deps.ledger().then(
          (ledger) => {
            this.labels = serverLabels(ledger);
          },
          () => {},
        ),
      );
      if (system)
        told.push(
          deps.rss().then(
            (rss) => {
              this.rssBefore = rss;
            },
            () => {},
          ),
        );
    }
    await Promise.all(told);
  }

  /** A spill names the process whose RSS grew the most since the last check, and is a marker on the chart. */
  private async tellSystem(e: SystemEvent): Promise<void> {
    let who = '';
    if (e.kind === 'spill' && this.rssBefore) {
      const grew = grewMost(this.rssBefore, await this.deps.rss().catch(() => new Map<number, ProcessRss>()));
      if (grew) who = `: ${grew.process.name} (PID ${grew.process.pid}) grew ${Math.round(grew.grewMiB)} MiB`;
    }
    const text = e.kind === 'spill' ? `RAM spill: ${e.text}${who}` : `Low RAM: ${e.text}`;
    this.deps.history.recordEvent({ t: e.end, kind: 'note', gpu: null, text, level: null, usedBefore: null, usedAfter: null });
    this.deps.tell(`VRAM Guard: ${text}${e.kind === 'spill' ? ' — memory moving out of VRAM into RAM and swap' : ''}.`);
  }
}
