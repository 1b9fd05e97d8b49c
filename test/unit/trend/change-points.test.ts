/**
 * The change-point analysis on the labelled corpus (test/helpers/trend-corpus.ts): leaks of 50, 100
 * and 500 MiB/h found with their rate, start and process; steps, bursts, a sawtooth and a steady
 * card never called a leak, at the end or at any point along the way; the A1000 trace that ships
 * read as the field note read it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseTrace } from '../../../src/core/gpu/trace-format.ts';
import { analysisJson, analyzeSeries, TrendAnalyzer, type GpuAnalysis } from '../../../src/core/trend/analysis.ts';
import { BucketSeries } from '../../../src/core/trend/bucket-series.ts';
import { utcClock } from '../../../src/core/trend/verdict.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';
import {
  burstTrace,
  CORPUS_T0,
  leakTrace,
  sawtoothTrace,
  stepThenLeakTrace,
  stepTrace,
  steadyTrace,
  synthesize,
  type LabelledTrace,
} from '../../helpers/trend-corpus.ts';

const MIN = 60_000;
const HOUR = 3_600_000;

/** The analysis of the trace's first `untilMs` (all of it by default), as the dashboard would see it then. */
function judge(c: Pick<LabelledTrace, 't' | 'usedMiB' | 'processes' | 'totalMiB'>, untilMs = Infinity): GpuAnalysis {
  let n = c.t.length;
  while (n > 0 && (c.t[n - 1] as number) > untilMs) n--;
  const a = analyzeSeries(0, c.t.slice(0, n), c.usedMiB.slice(0, n), c.totalMiB, { clock: utcClock }, c.processes.slice(0, n));
  assert.ok(a, 'the analysis has samples');
  return a;
}

describe('change points: leaks', () => {
  for (const rate of [50, 100, 500]) {
    it(`finds a ${rate} MiB/h leak after a load: its rate within 10 %, its start within 10 min, and the process`, () => {
      const c = leakTrace(rate);
      const a = judge(c);
      assert.equal(a.verdict.kind, 'leak', a.verdict.text);
      const leak = a.verdict.leak;
      assert.ok(leak);
      const truth = c.leak;
      assert.ok(truth);
      assert.ok(Math.abs(leak.rateMiBPerHour - rate) <= rate * 0.1, `rate ${leak.rateMiBPerHour} for ${rate}`);
      assert.ok(Math.abs(leak.since - truth.since) <= 10 * MIN, `since ${new Date(leak.since).toISOString()}`);
      assert.equal(leak.processes[0]?.pid, 5150);
      // The load before it is a step, not part of the leak.
      const kinds = a.changePoints.segments.map((s) => s.kind);
      assert.deepEqual(kinds, ['steady', 'step', 'steady', 'leak']);
    });
  }

  it('says nothing of a leak 14 minutes into the slope, and says it once the slope has lasted 15 minutes and more', () => {
    const c = leakTrace(100);
    const since = c.leak?.since ?? 0;
    assert.notEqual(judge(c, since + 14 * MIN).verdict.kind, 'leak');
    assert.equal(judge(c, since + 30 * MIN).verdict.kind, 'leak');
  });

  it('writes the dashboard sentence: rate, start, process and PID, and when the GPU is full', () => {
    // 120 MiB/h from 09:00; at 11:00 the GPU is 420 MiB from full: full at 14:30.
    const t0 = Date.parse('2026-03-02T08:00:00Z');
    const t: number[] = [];
    const used: number[] = [];
    const procs = [];
    for (let s = 0; s <= 3 * 3600; s++) {
      const server = 6000 + Math.max(0, s - 3600) * (120 / 3600);
      t.push(t0 + s * 1000);
      used.push(server + 500);
      procs.push([{ pid: 5150, name: '/opt/llama.cpp/llama-server', usedMiB: server }]);
    }
    const a = analyzeSeries(0, t, used, 6500 + 240 + 420, { clock: utcClock }, procs);
    assert.equal(a?.verdict.text, 'leaking 120 MiB/h since 09:00 in llama-server (PID 5150) → full at about 14:30');
    const json = a ? analysisJson(a) : null;
    assert.equal(json?.leak?.oomAt, '2026-03-02T14:30:00.000Z');
    assert.equal(json?.leak?.since.slice(0, 16), '2026-03-02T09:00');
  });

  it('finds a leak that starts 40 minutes after a step, and only from where it starts', () => {
    const c = stepThenLeakTrace();
    const a = judge(c);
    assert.equal(a.verdict.kind, 'leak', a.verdict.text);
    assert.ok(Math.abs((a.verdict.leak?.since ?? 0) - (c.leak?.since ?? 0)) <= 10 * MIN);
    assert.ok(Math.abs((a.verdict.leak?.rateMiBPerHour ?? 0) - 120) <= 12);
  });
});

describe('change points: no false leaks', () => {
  for (const make of [stepTrace, burstTrace, sawtoothTrace, steadyTrace]) {
    const c = make();
    it(`never calls the ${c.name} trace a leak, at its end or every 10 minutes along it`, () => {
      const end = c.t[c.t.length - 1] as number;
      for (let until = CORPUS_T0 + 5 * MIN; until <= end; until += 10 * MIN) {
        const a = judge(c, until);
        const leaks = a.changePoints.segments.filter((s) => s.kind === 'leak');
        assert.equal(leaks.length, 0, `${c.name} at ${new Date(until).toISOString()}: ${a.verdict.text}`);
      }
    });
  }

  it('reads a 60 s burst on a flat card as a burst, with its height and the process, and the card as steady between', () => {
    const a = judge(burstTrace());
    const bursts = a.changePoints.segments.filter((s) => s.kind === 'burst');
    assert.equal(bursts.length, 9, 'one burst every 40 minutes after the first 20');
    for (const b of bursts) {
      assert.ok(Math.abs(b.deltaMiB - 1500) < 40, `height ${b.deltaMiB}`);
      assert.ok(b.end - b.start <= 3 * MIN && b.end - b.start >= 50_000, `length ${b.end - b.start} ms`);
      assert.equal(b.processes[0]?.pid, 5150);
    }
    assert.match(a.verdict.text, /^burst \+15\d\d MiB at \d\d:\d\d for 1 min \(llama-server\), back since — not a leak$/);
  });

  it('names no process for a step when the process list before it was not read, rather than calling the holder newly loaded', () => {
    // 30 min at 3000 MiB with no process list, then a step to 3728 MiB read with llama-server holding 3700 MiB.
    const t: number[] = [];
    const used: number[] = [];
    const procs: Array<Array<{ pid: number; name: string; usedMiB: number }> | null> = [];
    for (let s = 0; s < 60 * 60; s += 5) {
      t.push(Date.UTC(2026, 0, 1) + s * 1000);
      const after = s >= 30 * 60;
      used.push(after ? 3728 : 3000);
      procs.push(after ? [{ pid: 4242, name: 'llama-server', usedMiB: 3700 }] : null);
    }
    const a = analyzeSeries(0, t, used, 8192, { clock: utcClock }, procs);
    const step = a?.changePoints.segments.find((x) => x.kind === 'step');
    assert.ok(step, 'the +728 MiB step is found');
    assert.deepEqual(step.processes, [], 'nothing is known of the processes before it');
    assert.doesNotMatch(a?.verdict.text ?? '', /loaded|grew/);
  });

  it('reads each sawtooth tooth as a burst', () => {
    const a = judge(sawtoothTrace());
    const kinds = new Set(a.changePoints.segments.map((s) => s.kind));
    assert.deepEqual([...kinds], ['burst']);
    assert.ok(a.changePoints.segments.length >= 40);
  });
});

describe('change points: steps and steady stretches', () => {
  it('says "+2838 MiB at 06:10: ollama (llama3.2:3b) loaded" twenty minutes after the load, not a growth rate', () => {
    const c = synthesize('load', 1, (s) => (s < 600 ? 0 : s < 610 ? ((s - 600) / 10) * 2838 : 2838), { noise: 0, serverName: 'ollama (llama3.2:3b)' });
    const a = judge(c, CORPUS_T0 + 30 * MIN);
    assert.equal(a.verdict.text, '+2838 MiB at 06:10: ollama (llama3.2:3b) loaded');
    assert.deepEqual(
      a.changePoints.segments.map((s) => s.kind),
      ['steady', 'step', 'steady'],
    );
  });

  it('finds the steps of the step trace with their sizes and the process, and calls the end steady', () => {
    const a = judge(stepTrace());
    const steps = a.changePoints.segments.filter((s) => s.kind === 'step').map((s) => Math.round(s.deltaMiB / 10) * 10);
    assert.deepEqual(steps, [2840, -2840, 5100]);
    assert.equal(a.verdict.text, 'steady for 1 h 59 min — not a leak');
    const exit = a.changePoints.segments.find((s) => s.kind === 'step' && s.deltaMiB < 0);
    assert.equal(exit?.processes[0]?.pid, 5150);
    assert.equal(exit?.processes[0]?.usedMiB, 0);
  });

  it('calls 11 hours at 3.6 GB with ±8 MiB of noise "steady for 11 h — not a leak"', () => {
    assert.equal(judge(steadyTrace()).verdict.text, 'steady for 11 h — not a leak');
  });

  it('says a few minutes of history are too few to rule out a leak', () => {
    const a = judge(steadyTrace(), CORPUS_T0 + 4 * MIN);
    assert.equal(a.verdict.text, 'steady for 4 min — too soon to rule out a leak');
  });
});

describe('change points: the A1000 trace that ships', () => {
  const trace = parseTrace(readFileSync(join(repoRoot, 'media', 'traces', 'a1000-4gb-speech-cascade.jsonl'), 'utf8'));
  const analyze = (until: number) => {
    const a = new TrendAnalyzer({ clock: utcClock });
    for (const r of trace.samples) if (r.time <= until) a.add(r.gpu, r.time, r.usedMiB, r.totalMiB, r.processes);
    return a.analyze(0);
  };
  const speech = Date.parse('2025-10-31T07:14:57Z');

  it('before the speech: "steady for 10 h 50 min — not a leak", the field note\'s answer, and the daemon holds it', () => {
    const a = analyze(speech - 1000);
    assert.equal(a?.verdict.text, 'steady for 10 h 50 min — not a leak');
    const steady = a?.changePoints.segments.at(-1);
    assert.equal(steady?.processes[0]?.name, 'python3 -m swictationd');
  });

  it('whole: the load, the 10 h 50 min stretch, the speech step, the crash and the reload; no leak', () => {
    const a = analyze(Infinity);
    assert.ok(a);
    const segs = a.changePoints.segments;
    assert.equal(segs.filter((s) => s.kind === 'leak').length, 0);
    const long = segs.find((s) => s.kind === 'steady' && s.end - s.start >= 10 * HOUR + 50 * MIN);
    assert.ok(long, 'the 10 h 50 min steady stretch');
    const steps = segs.filter((s) => s.kind === 'step');
    assert.deepEqual(
      steps.map((s) => Math.round(s.deltaMiB)),
      [3420, 140, -3551, 3420],
    );
    assert.equal(steps[2]?.processes[0]?.pid, 24817, 'the crash is the old daemon leaving');
    assert.equal(steps[3]?.processes[0]?.pid, 25533, 'the reload is the new one');
    assert.equal(a.verdict.text, '+3420 MiB at 07:19: python3 -m swictationd loaded');
  });
});

describe('change points: bounded', () => {
  it('keeps at most its bucket limit however long the series, and still finds the step', () => {
    const s = new BucketSeries({ maxBuckets: 1024 });
    for (let i = 0; i < 1_000_000; i++) s.add(i * 1000, i < 500_000 ? 1000 : 3000, 8192);
    assert.ok(s.buckets().first.length <= 1024, `${s.buckets().first.length} buckets`);
    assert.equal(s.samples, 1_000_000);
    const a = new TrendAnalyzer({ maxBuckets: 1024 });
    for (let i = 0; i < 200_000; i++) a.add(0, i * 1000, i < 100_000 ? 1000 : 3000, 8192);
    assert.deepEqual(
      a.analyze(0)?.changePoints.segments.map((x) => x.kind),
      ['steady', 'step', 'steady'],
    );
  });

  it('a fast leak in wide buckets (115 days of history) is a leak, not one long step', () => {
    const a = new TrendAnalyzer();
    const t0 = Date.parse('2026-03-02T06:00:00Z');
    // A sample every 64 s; flat for 104 days, then 100 MiB/h for 11.
    for (let s = 0; s < 10_000_000; s += 64) a.add(0, t0 + s * 1000, 3002 + (s > 9_000_000 ? (s - 9_000_000) / 36 : 0), 65_536);
    const r = a.analyze(0);
    assert.deepEqual(
      r?.changePoints.segments.map((x) => x.kind),
      ['steady', 'leak'],
    );
    assert.ok(Math.abs((r?.verdict.leak?.rateMiBPerHour ?? 0) - 100) < 5);
  });

  it('a model that takes five minutes to load is a step, not a leak', () => {
    const c = synthesize('slow load', 2, (s) => (s < 1800 ? 0 : s < 2100 ? ((s - 1800) / 300) * 3000 : 3000), { noise: 0 });
    const a = judge(c);
    assert.deepEqual(
      a.changePoints.segments.map((x) => x.kind),
      ['steady', 'step', 'steady'],
    );
    assert.ok(Math.abs((a.changePoints.segments[1]?.deltaMiB ?? 0) - 3000) < 40);
  });

  it('judges two GPUs interleaved each on its own', () => {
    const leak = leakTrace(500);
    const flat = steadyTrace();
    const a = new TrendAnalyzer();
    const n = Math.min(leak.t.length, flat.t.length);
    for (let i = 0; i < n; i++) {
      a.add(1, flat.t[i] as number, flat.usedMiB[i] as number, flat.totalMiB);
      a.add(0, leak.t[i] as number, leak.usedMiB[i] as number, leak.totalMiB);
    }
    assert.deepEqual(a.gpus(), [0, 1]);
    assert.equal(a.analyze(0)?.verdict.kind, 'leak');
    assert.equal(a.analyze(1)?.verdict.kind, 'steady');
  });
});

describe('change points: slopes too short to judge', () => {
  it('a rise of a few minutes is "rising … — a leak if it lasts 15 min"; a fall is memory being freed, never a leak', () => {
    const rise = synthesize('rise', 1, (s) => 2000 + (s > 3300 ? (s - 3300) * 0.5 : 0), { noise: 0 });
    const up = judge(rise);
    assert.equal(up.verdict.kind, 'rising');
    assert.match(up.verdict.text, /^rising 1800 MiB\/h since 06:55 in llama-server \(PID 5150\) — a leak if it lasts 15 min$/);
    const fall = synthesize('fall', 1, (s) => 4000 - (s > 3300 ? (s - 3300) * 0.5 : 0), { noise: 0 });
    const down = judge(fall);
    assert.equal(down.verdict.kind, 'falling');
    assert.match(down.verdict.text, /^falling 1800 MiB\/h since 06:55 in llama-server \(PID 5150\) — memory being freed$/);
  });
});
