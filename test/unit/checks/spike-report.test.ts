/** The spike report (Markdown and JSON) and how it is saved: timestamped names, never overwritten. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spikeExitCode } from '../../../src/cli/spike.ts';
import { spikeJson, spikeMarkdown, spikeSummary } from '../../../src/core/checks/spike-report.ts';
import { saveSpikeReport, spikeBaseName } from '../../../src/core/checks/spike-save.ts';
import { DEFAULT_TIMING } from '../../../src/core/checks/spike-spec.ts';
import type { SpikeReport, SpikeServerResult } from '../../../src/core/checks/spike.ts';
import { GiB, MiB } from '../../../src/core/units.ts';

const total = 8 * GiB;
const row = (kind: 'baseline' | 'server' | 'peak', label: string, mib: number, delta: number | null) => ({
  kind,
  label,
  server: kind === 'server' ? label.slice(2) : null,
  usedBytes: mib * MiB,
  percent: ((mib * MiB) / total) * 100,
  deltaBytes: delta === null ? null : delta * MiB,
  samples: [mib * MiB],
});
const server = (name: string, kind: SpikeServerResult['kind'], added: number, reported: number | null): SpikeServerResult => ({
  name,
  kind,
  command: [name === 'ollama' ? 'ollama' : 'whisper-server', name === 'ollama' ? 'serve' : '-m'],
  pid: name === 'ollama' ? 4242 : 4343,
  readyMs: 900,
  estimateBytes: null,
  estimateNote: null,
  addedBytes: added * MiB,
  nvmlBytes: added * MiB,
  reportedBytes: reported === null ? null : reported * MiB,
  models: [],
  load: { request: 'POST /x', warmUp: { ok: true, status: 200, ms: 10, error: null }, sent: 3, ok: 3, failed: 0, meanMs: 120, maxMs: 200, errors: [] },
  startError: null,
  lastLines: [],
  stop: { how: 'SIGTERM', waitedMs: 40, detail: null },
});

/** The user's measurement, as a report. */
function measured(): SpikeReport {
  return {
    status: 'complete',
    problem: null,
    startedAt: '2026-02-21T22:40:28.123Z',
    finishedAt: '2026-02-21T22:41:30.000Z',
    source: { kind: 'nvml', description: 'NVML 12.550.54.14, driver 550.54.14' },
    driverVersion: '550.54.14',
    gpu: { index: 0, name: 'NVIDIA GeForce RTX 3070', uuid: 'GPU-1', totalBytes: total },
    timing: DEFAULT_TIMING,
    leaveRunning: false,
    rows: [
      row('baseline', 'Baseline', 1464, null),
      row('server', '+ whisper', 2580, 1116),
      row('server', '+ ollama', 5418, 2838),
      row('peak', 'Concurrent inference peak', 5421, 3),
    ],
    peak: { usedBytes: 5421 * MiB, atMs: 1300, sampleCount: 31, durationMs: 3000, rateHz: 10.3, rounds: 3, trace: [] },
    headroomBytes: 2771 * MiB,
    decision: {
      verdict: 'GO',
      warningBytes: 6144 * MiB,
      marginBytes: 723 * MiB,
      level: 'ok',
      thresholds: { warning: 6144 * MiB, critical: 7168 * MiB, emergency: 7782 * MiB },
      thresholdProblem: null,
    },
    servers: [server('whisper', 'whisper-cpp', 1116, null), server('ollama', 'ollama', 2838, 2638)],
    afterStop: { usedBytes: 1464 * MiB, aboveBaselineBytes: 0 },
    notes: [],
  };
}

describe('spike report', () => {
  it("is the user's table, with headroom, the decision and the margin", () => {
    const md = spikeMarkdown(measured());
    assert.ok(
      md.includes(
        [
          '| State | Used MiB | Utilisation | Delta |',
          '|---|---:|---:|---:|',
          '| Baseline | 1464 | 17.9% | — |',
          '| + whisper | 2580 | 31.5% | +1116 MiB |',
          '| + ollama | 5418 | 66.1% | +2838 MiB |',
          '| Concurrent inference peak | 5421 | 66.2% | +3 MiB |',
          '| **Headroom at peak** | **2771** | **33.8% free** | — |',
        ].join('\n'),
      ),
      md,
    );
    assert.match(md, /^# VRAM budget spike\n\n\*\*GO\*\* — the concurrent peak of 5421 MiB stays 723 MiB below the WARNING threshold of 6144 MiB\./);
    assert.match(md, /\*\*Decision: GO\.\*\* The peak stays below WARNING: margin \+723 MiB \(WARNING 6144 MiB − peak 5421 MiB\)/);
    assert.match(md, /\| ollama \| ollama \| 4242 \| \+2838 MiB \| 2838 MiB \| 2638 MiB \| 3\/3 ok, mean 120 ms · POST \/x \| SIGTERM \(40 ms\) \|/);
    assert.match(md, /\| whisper \| whisper-cpp \| 4343 \| \+1116 MiB \| 1116 MiB \| — \|/);
    assert.match(md, /31 samples taken every 100 ms \(10\.3 Hz\) over 3 s of concurrent load, 3 rounds/);
    assert.doesNotMatch(md, /driver 550\.54\.14 · driver/);
    assert.doesNotMatch(md, /SIMULATED/);
    assert.match(
      spikeMarkdown({ ...measured(), source: { kind: 'replay', description: 'replay of trace.json' } }),
      /\*\*SIMULATED:\*\* the GPU figures are replayed/,
    );
    assert.equal(spikeSummary(measured()), 'GO: peak 5421 MiB is 723 MiB below the WARNING threshold of 6144 MiB; 2771 MiB headroom at peak.');
    assert.equal(spikeExitCode(measured()), 0);
  });

  it('NO-GO says by how much, and what to do', () => {
    const r = measured();
    r.rows[3] = row('peak', 'Concurrent inference peak', 7083, 3);
    r.peak!.usedBytes = 7083 * MiB;
    r.headroomBytes = 1109 * MiB;
    r.decision = { ...r.decision!, verdict: 'NO-GO', marginBytes: -939 * MiB, level: 'warning' };
    const md = spikeMarkdown(r);
    assert.match(md, /\*\*NO-GO\*\* — the concurrent peak of 7083 MiB is 939 MiB above the WARNING threshold of 6144 MiB \(WARNING\)\./);
    assert.match(md, /margin −939 MiB/);
    assert.match(md, /To fit: shrink a server/);
    assert.equal(spikeExitCode(r), 1);
  });

  it('an incomplete report says so, keeps what was measured, and has no decision', () => {
    const r = measured();
    r.status = 'failed';
    r.problem = '"ollama" did not start: The server exited during start-up with exit code 1.';
    r.rows = r.rows.slice(0, 2);
    r.peak = null;
    r.headroomBytes = null;
    r.decision = null;
    r.servers[1] = {
      ...r.servers[1]!,
      pid: null,
      stop: null,
      startError: 'The server exited during start-up with exit code 1.',
      lastLines: ['Error: listen tcp 127.0.0.1:11434: bind: address already in use'],
    };
    const md = spikeMarkdown(r);
    assert.match(md, /^# VRAM budget spike\n\n\*\*INCOMPLETE — failed: "ollama" did not start/);
    assert.match(md, /\| \+ whisper \| 2580 \| 31\.5% \| \+1116 MiB \|/);
    assert.doesNotMatch(md, /Headroom|Decision/);
    assert.match(md, /### ollama\n\n- Did not start: .*\n\n```text\nError: listen tcp/);
    assert.match(spikeSummary(r), /^INCOMPLETE \(failed\): "ollama" did not start/);
    const json = spikeJson(r);
    assert.deepEqual([json.status, json.complete, json.verdict, json.decision], ['failed', false, null, null]);
    assert.equal(spikeExitCode(r), 4);
  });

  it('JSON: the documented keys', () => {
    const json = spikeJson(measured());
    assert.deepEqual(Object.keys(json), [
      'status',
      'complete',
      'problem',
      'verdict',
      'startedAt',
      'finishedAt',
      'source',
      'driverVersion',
      'gpu',
      'thresholds',
      'timing',
      'rows',
      'peak',
      'headroomBytes',
      'decision',
      'servers',
      'afterStop',
      'leaveRunning',
      'notes',
    ]);
    assert.deepEqual(json.rows[3], {
      kind: 'peak',
      label: 'Concurrent inference peak',
      server: null,
      usedBytes: 5421 * MiB,
      percent: 66.2,
      deltaBytes: 3 * MiB,
      samples: [5421 * MiB],
    });
    assert.deepEqual(json.decision, { verdict: 'GO', warningBytes: 6144 * MiB, marginBytes: 723 * MiB, level: 'ok', thresholdProblem: null });
  });
});

describe('saving spike reports', () => {
  it('names them by the start time and never overwrites one', async () => {
    assert.equal(spikeBaseName('2026-02-21T22:40:28.123Z'), 'spike-2026-02-21T22-40-28Z');
    const dir = join(await mkdtemp(join(tmpdir(), 'vram-guard-save-')), '.vram-guard', 'spikes');
    const a = await saveSpikeReport(dir, measured());
    const b = await saveSpikeReport(dir, measured());
    // A stray Markdown file with the next name is kept, and that name skipped.
    await writeFile(join(dir, 'spike-2026-02-21T22-40-28Z-3.md'), 'mine\n');
    const c = await saveSpikeReport(dir, measured());
    assert.equal(a.markdownPath, join(dir, 'spike-2026-02-21T22-40-28Z.md'));
    assert.equal(b.jsonPath, join(dir, 'spike-2026-02-21T22-40-28Z-2.json'));
    assert.equal(c.markdownPath, join(dir, 'spike-2026-02-21T22-40-28Z-4.md'));
    assert.equal(await readFile(join(dir, 'spike-2026-02-21T22-40-28Z-3.md'), 'utf8'), 'mine\n');
    assert.deepEqual((await readdir(dir)).sort(), [
      'spike-2026-02-21T22-40-28Z-2.json',
      'spike-2026-02-21T22-40-28Z-2.md',
      'spike-2026-02-21T22-40-28Z-3.md',
      'spike-2026-02-21T22-40-28Z-4.json',
      'spike-2026-02-21T22-40-28Z-4.md',
      'spike-2026-02-21T22-40-28Z.json',
      'spike-2026-02-21T22-40-28Z.md',
    ]);
    assert.equal(await readFile(a.markdownPath, 'utf8'), spikeMarkdown(measured()));
    assert.deepEqual(JSON.parse(await readFile(a.jsonPath, 'utf8')), JSON.parse(JSON.stringify(spikeJson(measured()))));
  });
});
