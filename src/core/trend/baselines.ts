/**
 * Baseline and delta per server process: once a process's memory settles (level for `settleMs`
 * after it appeared or after its last step), that level is its baseline; growth beyond
 * baseline + delta (the larger of `deltaPercent` of the baseline and `deltaMiB`) warns once, naming
 * the process and its rate. A step (a second model loaded: half the delta or more within a minute)
 * is no growth: the process settles again and gets a new baseline. Pure: fed process lists with times.
 */
import type { TrendProcess } from './bucket-series.ts';

export interface BaselineOptions {
  /** Default 10 (%). */
  deltaPercent?: number;
  /** Default 256 MiB. */
  deltaMiB?: number;
  /** How long a level must hold to be a baseline (default 5 min). */
  settleMs?: number;
  /** A change within this much time is a step (default 60 s). */
  stepMs?: number;
}

export interface BaselineWarning {
  gpu: number;
  pid: number;
  name: string | null;
  baselineMiB: number;
  usedMiB: number;
  /** When it left its baseline (ms). */
  since: number;
  rateMiBPerHour: number;
  text: string;
}

interface Track {
  name: string | null;
  /** The level being watched for settling, and since when it held. */
  level: number;
  levelSince: number;
  last: { t: number; used: number };
  baseline: { mib: number; at: number } | null;
  /** When it was last at (or below) its baseline. */
  atBaseline: number;
  warned: boolean;
}

const SETTLE_BAND_MIB = 32;

export class ServerBaselines {
  private readonly tracks = new Map<string, Track>();
  private readonly options: Required<BaselineOptions>;

  constructor(options: BaselineOptions = {}) {
    this.options = { deltaPercent: 10, deltaMiB: 256, settleMs: 5 * 60_000, stepMs: 60_000, ...options };
  }

  set(options: BaselineOptions): void {
    Object.assign(this.options, options);
  }

  /** The delta a process with this baseline may grow by (MiB). */
  deltaOf(baselineMiB: number): number {
    return Math.max((baselineMiB * this.options.deltaPercent) / 100, this.options.deltaMiB);
  }

  /** A GPU's process list at `t`; the warnings it raises (each process warns once). */
  observe(gpu: number, t: number, processes: readonly TrendProcess[]): BaselineWarning[] {
    const out: BaselineWarning[] = [];
    const seen = new Set<string>();
    for (const p of processes) {
      if (p.usedMiB === null) continue;
      const key = `${gpu}:${p.pid}`;
      seen.add(key);
      const used = p.usedMiB;
      let tr = this.tracks.get(key);
      if (!tr) {
        tr = { name: p.name, level: used, levelSince: t, last: { t, used }, baseline: null, atBaseline: t, warned: false };
        this.tracks.set(key, tr);
        continue;
      }
      tr.name = p.name ?? tr.name;
      const jump = used - tr.last.used;
      const step = t - tr.last.t <= this.options.stepMs && Math.abs(jump) >= this.deltaOf(tr.baseline?.mib ?? tr.level) / 2;
      tr.last = { t, used };
      if (step) {
        // A model loaded or unloaded: settle again before judging growth.
        tr.baseline = null;
        tr.level = used;
        tr.levelSince = t;
        tr.warned = false;
        continue;
      }
      if (!tr.baseline) {
        if (Math.abs(used - tr.level) > SETTLE_BAND_MIB) {
          tr.level = used;
          tr.levelSince = t;
        } else if (t - tr.levelSince >= this.options.settleMs) {
          tr.baseline = { mib: tr.level, at: t };
          tr.atBaseline = t;
        }
        continue;
      }
      if (used <= tr.baseline.mib + SETTLE_BAND_MIB) {
        tr.atBaseline = t;
        continue;
      }
      const growth = used - tr.baseline.mib;
      if (tr.warned || growth <= this.deltaOf(tr.baseline.mib)) continue;
      tr.warned = true;
      const hours = Math.max(t - tr.atBaseline, 60_000) / 3_600_000;
      const rate = growth / hours;
      const label = `${p.name ?? 'a process'} (PID ${p.pid})`;
      out.push({
        gpu,
        pid: p.pid,
        name: p.name,
        baselineMiB: tr.baseline.mib,
        usedMiB: used,
        since: tr.atBaseline,
        rateMiBPerHour: rate,
        text: `${label} grew ${Math.round(growth)} MiB beyond its baseline of ${Math.round(tr.baseline.mib)} MiB, at ${Math.round(rate)} MiB/h`,
      });
    }
    for (const key of this.tracks.keys()) if (key.startsWith(`${gpu}:`) && !seen.has(key)) this.tracks.delete(key);
    return out;
  }
}
