/**
 * When to tell the user about a GPU's trend: once for each leak (a GPU and the time it began),
 * never for a step or a burst — a model loading is not news, a leak is.
 */
import type { GpuAnalysis } from './analysis.ts';

export interface LeakAlert {
  gpu: number;
  /** The verdict: "leaking 120 MiB/h since 09:00 in llama-server (PID 5150) → full at about 14:30". */
  text: string;
  since: number;
  /** The processes behind it. */
  pids: number[];
}

export class LeakAlerts {
  /** Per GPU, the start of the leak last told (a leak found again a few minutes earlier or later is the same one). */
  private readonly told = new Map<number, number>();
  private readonly sameLeakMs: number;

  constructor(options: { sameLeakMs?: number } = {}) {
    this.sameLeakMs = options.sameLeakMs ?? 30 * 60_000;
  }

  /** The leaks to tell now, from the latest analyses. */
  check(analyses: ReadonlyArray<GpuAnalysis | null>): LeakAlert[] {
    const out: LeakAlert[] = [];
    for (const a of analyses) {
      const leak = a?.verdict.leak;
      if (a?.verdict.kind !== 'leak' || !leak) continue;
      const before = this.told.get(a.gpu);
      if (before !== undefined && Math.abs(before - leak.since) < this.sameLeakMs) continue;
      this.told.set(a.gpu, leak.since);
      out.push({ gpu: a.gpu, text: a.verdict.text, since: leak.since, pids: leak.processes.map((p) => p.pid) });
    }
    return out;
  }
}
