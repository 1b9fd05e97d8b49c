/**
 * The labelled corpus the change-point analysis is judged on: synthetic GPUs sampled at 1 Hz with
 * uniform noise of ±8 MiB (a seeded generator, so every run sees the same numbers), each with what a
 * person reading the chart would say: where the leak starts and its rate, or that there is none.
 */
import type { TrendProcess } from '../../src/core/trend/bucket-series.ts';

export const CORPUS_T0 = Date.parse('2026-03-02T06:00:00Z');
const MIN = 60_000;
const HOUR = 3_600_000;

export interface LabelledTrace {
  name: string;
  t: number[];
  usedMiB: number[];
  processes: TrendProcess[][];
  totalMiB: number;
  /** The truth: a leak (its start and rate) or none. */
  leak: { since: number; rateMiBPerHour: number; pid: number } | null;
  /** What the trace holds besides (for the tests' messages). */
  shape: 'leak' | 'step' | 'burst' | 'sawtooth' | 'steady' | 'step-then-leak';
}

/** Mulberry32: a small seeded generator. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

const XORG: TrendProcess = { pid: 1187, name: '/usr/lib/xorg/Xorg', usedMiB: 120 };

/**
 * A 1 Hz trace of `hours`, whose one server process (PID 5150) holds `server(tSeconds)` MiB (0: not
 * running), with ±`noise` MiB on the total.
 */
export function synthesize(
  name: string,
  hours: number,
  server: (s: number) => number,
  opts: { seed?: number; noise?: number; total?: number; serverName?: string } = {},
): Pick<LabelledTrace, 'name' | 't' | 'usedMiB' | 'processes' | 'totalMiB'> {
  const rand = seeded(opts.seed ?? 1);
  const noise = opts.noise ?? 8;
  const t: number[] = [];
  const usedMiB: number[] = [];
  const processes: TrendProcess[][] = [];
  const n = Math.round(hours * 3600);
  for (let s = 0; s <= n; s++) {
    const mine = server(s);
    const jitter = (rand() * 2 - 1) * noise;
    t.push(CORPUS_T0 + s * 1000);
    usedMiB.push(Math.round((250 + mine + jitter) * 10) / 10);
    const procs = [XORG];
    if (mine > 0) procs.push({ pid: 5150, name: opts.serverName ?? '/opt/llama.cpp/llama-server', usedMiB: Math.round(mine + jitter) });
    processes.push(procs);
  }
  return { name, t, usedMiB, processes, totalMiB: opts.total ?? 24_576 };
}

/** A server loads 6 GiB at 07:00 (an 8 s ramp), then leaks `rate` MiB/h from `leakAfterH` hours later. */
export function leakTrace(rate: number, seed = 1, leakAfterH = 1, hours = leakAfterH + 3): LabelledTrace {
  const loadAt = 3600;
  const leakAt = loadAt + leakAfterH * 3600;
  const trace = synthesize(
    `leak ${rate} MiB/h`,
    hours + 1,
    (s) => (s < loadAt ? 0 : Math.min(1, (s - loadAt + 1) / 8) * 6144 + (s > leakAt ? ((s - leakAt) / 3600) * rate : 0)),
    { seed },
  );
  return { ...trace, leak: { since: CORPUS_T0 + leakAt * 1000, rateMiBPerHour: rate, pid: 5150 }, shape: 'leak' };
}

/** Load steps (up 2838 MiB, later down and up again), flat between. */
export function stepTrace(seed = 2): LabelledTrace {
  const trace = synthesize(
    'steps',
    5,
    (s) => {
      if (s < 600) return 0;
      if (s < 610) return ((s - 600) / 10) * 2838;
      if (s < 2 * 3600) return 2838;
      if (s < 3 * 3600) return 0;
      if (s < 3 * 3600 + 30) return ((s - 3 * 3600) / 30) * 5100;
      return 5100;
    },
    { seed, serverName: 'ollama (llama3.2:3b)' },
  );
  return { ...trace, leak: null, shape: 'step' };
}

/** A model held flat for hours, with 60 s bursts of +1500 MiB every 40 minutes. */
export function burstTrace(seed = 3): LabelledTrace {
  const trace = synthesize(
    'bursts',
    6,
    (s) => {
      const base = s < 300 ? 0 : 3420;
      const inPeriod = s % 2400;
      return base + (s > 900 && inPeriod >= 1200 && inPeriod < 1260 ? 1500 : 0);
    },
    { seed },
  );
  return { ...trace, leak: null, shape: 'burst' };
}

/** A cache that grows 300 MiB over 8 minutes and is freed at once, over and over, for 6 hours. */
export function sawtoothTrace(seed = 4): LabelledTrace {
  const trace = synthesize('sawtooth', 6, (s) => 4000 + ((s % 480) / 480) * 300, { seed });
  return { ...trace, leak: null, shape: 'sawtooth' };
}

/** Flat at 3.6 GB for 11 hours (the field note's daemon), noise only. */
export function steadyTrace(seed = 5): LabelledTrace {
  const trace = synthesize('steady 11 h', 11, () => 3420, { seed, total: 4096 });
  return { ...trace, leak: null, shape: 'steady' };
}

/** A step up, then 40 minutes later a 120 MiB/h leak (the dashboard's example). */
export function stepThenLeakTrace(seed = 6): LabelledTrace {
  const trace = synthesize('step then leak', 4, (s) => (s < 1800 ? 1000 : s < 4200 ? 4000 : 4000 + ((s - 4200) / 3600) * 120), { seed });
  return { ...trace, leak: { since: CORPUS_T0 + 4200 * 1000, rateMiBPerHour: 120, pid: 5150 }, shape: 'step-then-leak' };
}

/** Every labelled trace, leaks of 50, 100 and 500 MiB/h included. */
export function corpus(): LabelledTrace[] {
  return [leakTrace(50), leakTrace(100), leakTrace(500), stepTrace(), burstTrace(), sawtoothTrace(), steadyTrace(), stepThenLeakTrace()];
}

export { HOUR, MIN };

/** The trace as a VRAM Guard trace file's text (docs/trace-format.md), process lists included. */
export function traceText(c: Pick<LabelledTrace, 'name' | 't' | 'usedMiB' | 'processes' | 'totalMiB'>, gpu = 0): string {
  const lines = [JSON.stringify({ vramGuardTrace: 1, title: c.name, devices: [{ index: gpu, name: 'NVIDIA GeForce RTX 4090', totalMiB: c.totalMiB }] })];
  for (let i = 0; i < c.t.length; i++) {
    lines.push(JSON.stringify({ t: new Date(c.t[i] as number).toISOString(), gpu, usedMiB: c.usedMiB[i], processes: c.processes[i] }));
  }
  return `${lines.join('\n')}\n`;
}
