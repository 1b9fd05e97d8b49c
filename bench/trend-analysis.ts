/**
 * How well the change-point analysis judges, on the labelled corpus (test/helpers/trend-corpus.ts),
 * read minute by minute as the dashboard would read a live GPU:
 *  - the detection delay of leaks of 50, 100 and 500 MiB/h (from the leak's start to the first
 *    minute the verdict says "leaking"), over five noise seeds each;
 *  - the error of the rate once the leak has run three hours;
 *  - false leak verdicts on the step, burst, sawtooth and steady traces (goal: 0);
 *  - the time to judge 24 h of one GPU at 1 Hz (86,401 samples, process lists included).
 *
 *   node bench/trend-analysis.ts     (also part of npm run bench)
 */
import { BucketSeries } from '../src/core/trend/bucket-series.ts';
import { findChangePoints } from '../src/core/trend/change-points.ts';
import { verdictOf } from '../src/core/trend/verdict.ts';
import { burstTrace, leakTrace, sawtoothTrace, stepTrace, steadyTrace, type LabelledTrace } from '../test/helpers/trend-corpus.ts';
import type { BenchRow } from './dashboard.ts';

const MIN = 60_000;
const RATES = [50, 100, 500];
const SEEDS = [11, 12, 13, 14, 15];
export const ANALYSIS_TARGET_MS = 20;

export interface TrendFigures {
  leaks: Array<{ rateMiBPerHour: number; delayMin: number[]; rateErrorPercent: number[]; missed: number }>;
  falseLeaks: Array<{ trace: string; verdicts: number; leakVerdicts: number }>;
  day: { samples: number; medianMs: number; p90Ms: number; runs: number };
}

/** The verdict every minute along the trace: the minutes (ms) at which it said "leak". */
function minuteByMinute(c: LabelledTrace): { leakAt: number[]; verdicts: number; final: ReturnType<typeof verdictOf> | null } {
  const series = new BucketSeries();
  const leakAt: number[] = [];
  let verdicts = 0;
  let next = (c.t[0] as number) + MIN;
  let final: ReturnType<typeof verdictOf> | null = null;
  for (let i = 0; i < c.t.length; i++) {
    const t = c.t[i] as number;
    series.add(t, c.usedMiB[i] as number, c.totalMiB, c.processes[i] ?? null);
    if (t >= next || i === c.t.length - 1) {
      next += MIN;
      const v = verdictOf(findChangePoints(series.buckets()), c.totalMiB);
      verdicts++;
      if (v.kind === 'leak') leakAt.push(t);
      final = v;
    }
  }
  return { leakAt, verdicts, final };
}

export function measureTrendAnalysis(): { rows: BenchRow[]; figures: TrendFigures } {
  const leaks: TrendFigures['leaks'] = [];
  for (const rate of RATES) {
    const entry = { rateMiBPerHour: rate, delayMin: [] as number[], rateErrorPercent: [] as number[], missed: 0 };
    for (const seed of SEEDS) {
      const c = leakTrace(rate, seed, 1, 3);
      const since = c.leak?.since ?? 0;
      const run = minuteByMinute(c);
      const first = run.leakAt.find((t) => t >= since);
      if (first === undefined || !run.final?.leak) {
        entry.missed++;
        continue;
      }
      entry.delayMin.push((first - since) / MIN);
      entry.rateErrorPercent.push((Math.abs(run.final.leak.rateMiBPerHour - rate) / rate) * 100);
    }
    leaks.push(entry);
  }
  const falseLeaks: TrendFigures['falseLeaks'] = [];
  for (const make of [stepTrace, burstTrace, sawtoothTrace, steadyTrace]) {
    for (const seed of SEEDS.slice(0, 3)) {
      const c = make(seed);
      const run = minuteByMinute(c);
      const row = falseLeaks.find((f) => f.trace === c.name) ?? { trace: c.name, verdicts: 0, leakVerdicts: 0 };
      if (!falseLeaks.includes(row)) falseLeaks.push(row);
      row.verdicts += run.verdicts;
      row.leakVerdicts += run.leakAt.length;
    }
  }
  // 24 h at 1 Hz: a leak after a load, with process lists, judged from scratch (ingest + change points + verdict).
  const day = leakTrace(100, 21, 12, 23);
  const times: number[] = [];
  for (let run = 0; run < 25; run++) {
    const t0 = performance.now();
    const series = new BucketSeries();
    for (let i = 0; i < day.t.length; i++) series.add(day.t[i] as number, day.usedMiB[i] as number, day.totalMiB, day.processes[i] ?? null);
    verdictOf(findChangePoints(series.buckets()), day.totalMiB);
    if (run >= 5) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const dayFigures = {
    samples: day.t.length,
    medianMs: times[Math.floor(times.length / 2)] as number,
    p90Ms: times[Math.floor(times.length * 0.9)] as number,
    runs: times.length,
  };
  const figures: TrendFigures = { leaks, falseLeaks, day: dayFigures };
  const fmt = (v: number[]) => (v.length ? `${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}` : '—');
  const rows: BenchRow[] = [
    ...leaks.map((l) => ({
      measure: `leak of ${l.rateMiBPerHour} MiB/h (±8 MiB noise, ${SEEDS.length} seeds): detection delay`,
      value: `${fmt(l.delayMin)} min${l.missed ? `, ${l.missed} missed` : ''}`,
      target: '15 min persistence + ≤ 10',
      ok: l.missed === 0 && Math.max(...l.delayMin) <= 25,
    })),
    ...leaks.map((l) => ({
      measure: `leak of ${l.rateMiBPerHour} MiB/h: rate error after 3 h`,
      value: `${Math.max(...l.rateErrorPercent, 0).toFixed(1)} % at most`,
      target: '≤ 10 %',
      ok: Math.max(...l.rateErrorPercent, 0) <= 10,
    })),
    ...falseLeaks.map((f) => ({
      measure: `false leak verdicts, ${f.trace} trace (minute by minute, 3 seeds)`,
      value: `${f.leakVerdicts} of ${f.verdicts}`,
      target: '0',
      ok: f.leakVerdicts === 0,
    })),
    {
      measure: `trend analysis of 24 h at 1 Hz (${dayFigures.samples.toLocaleString('en-US')} samples)`,
      value: `${dayFigures.medianMs.toFixed(2)} ms median of ${dayFigures.runs}, p90 ${dayFigures.p90Ms.toFixed(2)} ms`,
      target: `≤ ${ANALYSIS_TARGET_MS} ms`,
      ok: dayFigures.medianMs <= ANALYSIS_TARGET_MS,
    },
  ];
  return { rows, figures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows } = measureTrendAnalysis();
  const width = Math.max(...rows.map((r) => r.measure.length));
  const vwidth = Math.max(...rows.map((r) => r.value.length));
  for (const r of rows) console.log(`${r.measure.padEnd(width)}  ${r.value.padEnd(vwidth)}  ${r.target}${r.target ? (r.ok ? '  met' : '  MISSED') : ''}`);
}
