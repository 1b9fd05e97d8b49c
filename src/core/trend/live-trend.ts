/**
 * The trend analysis of a watched GPU: the history store keeps the memory figures, this keeps each
 * GPU's process lists — only when they change, a bounded number — so the verdict can say which
 * process a step or a leak belongs to. `judge` analyses the last `windowMs` of the store's points
 * with the process list in force at each. Pure: the host feeds it samples and points.
 */
import type { GpuProcess } from '../gpu/types.ts';
import { MiB } from '../units.ts';
import { type AnalysisOptions, type GpuAnalysis, TrendAnalyzer } from './analysis.ts';
import type { TrendProcess } from './bucket-series.ts';

export interface LiveTrendOptions extends AnalysisOptions {
  /** Process lists kept per GPU (default 2000). */
  maxSnapshots?: number;
}

interface Snapshot {
  t: number;
  processes: TrendProcess[];
  /** The PIDs and names, sorted. */
  key: string;
}

/** A process list is kept again when a process's memory moved by this much (MiB). */
const CHANGE_MIB = 32;

/** NVML's processes in MiB, each named by `label` where it knows better ("ollama (llama3.2:3b)"). */
export function trendProcesses(processes: readonly GpuProcess[], label?: (p: GpuProcess) => string | null): TrendProcess[] {
  return processes.map((p) => ({ pid: p.pid, name: label?.(p) ?? p.name, usedMiB: p.usedBytes === null ? null : p.usedBytes / MiB }));
}

export class LiveTrend {
  private readonly snapshots = new Map<number, Snapshot[]>();
  private readonly options: LiveTrendOptions;

  constructor(options: LiveTrendOptions = {}) {
    this.options = options;
  }

  /**
   * A GPU's process list at `t` (as the watcher last listed it). `label` may give a process a better
   * name (its server and model: "ollama (llama3.2:3b)").
   */
  onProcesses(gpu: number, t: number, processes: readonly GpuProcess[], label?: (p: GpuProcess) => string | null): void {
    this.onList(gpu, t, trendProcesses(processes, label));
  }

  /** The same, for a list already in MiB. */
  onList(gpu: number, t: number, list: TrendProcess[]): void {
    const key = list
      .map((p) => `${p.pid}:${p.name}`)
      .sort()
      .join(',');
    let snaps = this.snapshots.get(gpu);
    if (!snaps) {
      snaps = [];
      this.snapshots.set(gpu, snaps);
    }
    const last = snaps[snaps.length - 1];
    if (last && t < last.t) return;
    // The same processes, none moved by 32 MiB or more since the list kept: noise, not a change.
    if (last && last.key === key && list.every((p) => Math.abs((p.usedMiB ?? 0) - (last.processes.find((q) => q.pid === p.pid)?.usedMiB ?? 0)) < CHANGE_MIB))
      return;
    snaps.push({ t, processes: list, key });
    if (snaps.length > (this.options.maxSnapshots ?? 2000)) snaps.splice(0, snaps.length - (this.options.maxSnapshots ?? 2000));
  }

  /** Forgets the process lists (an imported log is shown: they are not its processes). */
  clear(): void {
    this.snapshots.clear();
  }

  /**
   * The analysis of one GPU's points (times, used MiB, in time order), each with the process list in
   * force then; null without points.
   */
  judge(gpu: number, t: ArrayLike<number>, usedMiB: ArrayLike<number>, totalMiB: number | null): GpuAnalysis | null {
    const analyzer = new TrendAnalyzer(this.options);
    const snaps = this.snapshots.get(gpu) ?? [];
    let k = -1;
    for (let i = 0; i < t.length; i++) {
      const ti = t[i] as number;
      while (k + 1 < snaps.length && (snaps[k + 1] as Snapshot).t <= ti) k++;
      analyzer.add(gpu, ti, usedMiB[i] as number, totalMiB, k >= 0 ? (snaps[k] as Snapshot).processes : null);
    }
    return analyzer.analyze(gpu);
  }
}
