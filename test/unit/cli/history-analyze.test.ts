/** `vram-guard history analyze` through the built dist/cli.cjs, on real files. Needs `npm run build` first. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { exportRecords } from '../../../src/core/history/io.ts';
import { HistoryStore } from '../../../src/core/history/store.ts';
import type { HistoryRecord } from '../../../src/core/history/types.ts';
import { cliPath, runCli } from '../../helpers/cli-run.ts';
import { MiB, repoRoot } from '../../helpers/fake-nvml.ts';
import { leakTrace, stepTrace, traceText } from '../../helpers/trend-corpus.ts';

const A1000 = join(repoRoot, 'media', 'traces', 'a1000-4gb-speech-cascade.jsonl');
const UTC = { TZ: 'UTC' };

before(() => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
});

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'vram-guard-analyze-'));
}

describe('vram-guard history analyze', () => {
  it('--json on the A1000 trace: the shape of the issue, ISO times, the steps with the daemon, no leak', async () => {
    const r = await runCli(['history', 'analyze', A1000, '--json'], UTC);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { gpus: Array<Record<string, unknown>> };
    assert.equal(out.gpus.length, 1);
    const gpu = out.gpus[0] as { gpu: number; verdict: string; leak: unknown; segments: Array<Record<string, unknown>> };
    assert.deepEqual(Object.keys(gpu), ['gpu', 'verdict', 'leak', 'segments']);
    assert.equal(gpu.gpu, 0);
    assert.equal(gpu.verdict, '+3420 MiB at 07:19: python3 -m swictationd loaded');
    assert.equal(gpu.leak, null);
    for (const s of gpu.segments) {
      assert.deepEqual(Object.keys(s), ['kind', 'start', 'end', 'deltaMiB', 'rateMiBPerHour', 'processes']);
      assert.match(String(s.start), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const steady = gpu.segments.find((s) => s.kind === 'steady' && s.start === '2025-10-30T20:24:03.000Z');
    assert.equal(steady?.end, '2025-10-31T07:14:55.000Z', 'steady for 10 h 50 min 52 s');
    const load = gpu.segments[0] as { kind: string; deltaMiB: number; processes: Array<{ pid: number; name: string }> };
    assert.equal(load.kind, 'step');
    assert.equal(load.deltaMiB, 3420);
    assert.deepEqual(
      load.processes.map((p) => [p.pid, p.name]),
      [[24817, 'python3 -m swictationd']],
    );
  });

  it('names a leak in a trace with its rate, start, process and when the GPU is full; text and JSON agree', async () => {
    const dir = await tempDir();
    const file = join(dir, 'leak.jsonl');
    const c = leakTrace(500);
    await writeFile(file, traceText(c));
    const text = await runCli(['history', 'analyze', file], UTC);
    assert.equal(text.code, 0, text.stderr);
    const [first] = text.stdout.split('\n');
    assert.match(first ?? '', /^GPU 0 of 24576 MiB: leaking 5\d\d MiB\/h since 08:0\d in llama-server \(PID 5150\) → full in about 3\d h \d+ min$/);
    assert.match(text.stdout, /leak {4}\+1\d{3} MiB at 5\d\d MiB\/h for 2 h 5\d min {2}— llama-server \(PID 5150\)/);
    const json = await runCli(['history', 'analyze', file, '--json'], UTC);
    const leak = (
      JSON.parse(json.stdout) as { gpus: Array<{ leak: { rateMiBPerHour: number; since: string; oomAt: string; processes: Array<{ pid: number }> } }> }
    ).gpus[0]?.leak;
    assert.ok(leak);
    assert.ok(Math.abs(leak.rateMiBPerHour - 500) < 50);
    assert.ok(Math.abs(Date.parse(leak.since) - (c.leak?.since ?? 0)) < 10 * 60_000);
    assert.equal(leak.processes[0]?.pid, 5150);
    // Full when the rest of the card is used at that rate.
    const end = c.t.at(-1) as number;
    const left = c.totalMiB - (c.usedMiB.at(-1) as number);
    assert.ok(Math.abs(Date.parse(leak.oomAt) - (end + (left / 500) * 3_600_000)) < 3 * 3_600_000);
  });

  it('reads the dashboard history folder (through VRAM_GUARD_STATE_DIR), and --gpu picks one GPU', async () => {
    const state = await tempDir();
    const store = new HistoryStore({ dir: join(state, 'history'), flushMs: 10 });
    const c = stepTrace();
    const now = Date.now();
    const shift = now - (c.t.at(-1) as number);
    for (let i = 0; i < c.t.length; i += 5) {
      const t = (c.t[i] as number) + shift;
      store.record({
        t,
        gpus: [
          { gpu: 0, used: Math.round((c.usedMiB[i] as number) * MiB), total: c.totalMiB * MiB },
          { gpu: 1, used: 700 * MiB, total: 8192 * MiB },
        ],
        system: null,
      } as never);
    }
    await store.close();
    const r = await runCli(['history', 'analyze', '--gpu', '0', '--json'], { ...UTC, VRAM_GUARD_STATE_DIR: state });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { gpus: Array<{ gpu: number; verdict: string; segments: Array<{ kind: string; deltaMiB: number }> }> };
    assert.deepEqual(
      out.gpus.map((g) => g.gpu),
      [0],
    );
    assert.deepEqual(
      out.gpus[0]?.segments.filter((s) => s.kind === 'step').map((s) => Math.round(s.deltaMiB / 100) * 100),
      [2800, -2800, 5100],
    );
    assert.equal(out.gpus[0]?.verdict, 'steady for 1 h 59 min — not a leak');
    const both = await runCli(['history', 'analyze', '--dir', join(state, 'history')], UTC);
    assert.equal(both.code, 0, both.stderr);
    assert.match(both.stdout, /^GPU 0 of 24576 MiB: steady for 1 h 59 min — not a leak$/m);
    assert.match(both.stdout, /^GPU 1 of 8192 MiB: steady for 5 h — not a leak$/m);
  });

  it('reads a VRAM Guard CSV export and an nvidia-smi CSV log', async () => {
    const dir = await tempDir();
    const c = stepTrace();
    const records: HistoryRecord[] = [];
    for (let i = 0; i < c.t.length; i += 10)
      records.push({
        type: 'sample',
        sample: { t: c.t[i] as number, gpus: [{ gpu: 0, used: Math.round((c.usedMiB[i] as number) * MiB), total: c.totalMiB * MiB }], system: null },
      });
    const chunks: string[] = [];
    await exportRecords([records], 'csv', 'steps', async (chunk) => {
      chunks.push(chunk);
    });
    await writeFile(join(dir, 'export.csv'), chunks.join(''));
    const r = await runCli(['history', 'analyze', join(dir, 'export.csv')], UTC);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^GPU 0 of 24576 MiB: steady for 1 h 59 min — not a leak$/m);
    assert.match(r.stdout, /\(csv\)/);
    const smi = await runCli(['history', 'analyze', join(repoRoot, 'test', 'fixtures', 'nvidia-smi', 'query-gpu-log.csv'), '--gpu', '1'], UTC);
    assert.equal(smi.code, 0, smi.stderr);
    assert.match(smi.stdout, /^GPU 1 of 8192 MiB: steady for 15 s — too soon to rule out a leak$/m);
    assert.match(smi.stdout, /\(nvidia-smi\)/);
  });

  it("names a spill into RAM and swap from the history's system memory readings (field note 001)", async () => {
    const state = await tempDir();
    const store = new HistoryStore({ dir: join(state, 'history'), flushMs: 10 });
    const end = Date.now();
    const t0 = end - 3_600_000;
    for (let s = 0; s <= 3600; s += 5) {
      const cascade = Math.min(1, Math.max(0, (s - 3000) / 180));
      const system = { ramUsed: (789 + cascade * 5211) * MiB, ramTotal: 16_384 * MiB, swapUsed: cascade * 1331 * MiB, swapTotal: 8192 * MiB };
      store.record({ t: t0 + s * 1000, gpus: [{ gpu: 0, used: 3600 * MiB, total: 4096 * MiB }], system });
    }
    await store.close();
    const r = await runCli(['history', 'analyze', '--dir', join(state, 'history')], UTC);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^GPU 0 of 4096 MiB: steady for 1 h — not a leak$/m);
    assert.match(
      r.stdout,
      /^System RAM and swap:\n {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}spill {3}RAM 789 MiB → \d\.\d GiB and swap 0 MiB → \d+ MiB within [1-3] min$/m,
    );
  });
});
