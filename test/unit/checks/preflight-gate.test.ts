/**
 * The VRAM gate of `vram-guard` tasks on the estimate: the task's own arguments decide what is
 * sized, two tasks started together cannot both pass on the same free memory, and a second start
 * of the same model uses what NVML measured the first time. Real child processes (the emulated
 * llama-server), the real NVML path through koffi against the fake library, real files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FootprintStore } from '../../../src/core/estimate/measured-footprints.ts';
import { ReservationBook } from '../../../src/core/servers/reservations.ts';
import { GiB, MiB } from '../../helpers/fake-nvml.ts';
import { LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { pollUntil } from '../../helpers/servers.ts';

let h: ServerHarness;
let model: string;
let dir: string;

before(async () => {
  h = await ServerHarness.create({ devices: [baseGpu()] });
  model = await writeGguf('Llama-3.2-3B-Instruct-Q4_K_M', LLAMA_32_3B, { sparse: true });
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-estimate-gate-'));
});
after(async () => h.dispose());

const logOf = (name: string) => (h.logs.get(name) ?? []).join('\n');

describe('the gate sizes what the task will run', () => {
  it('a task saying -fa on -ctk q8_0 -ctv q8_0 -np 2 is gated on that configuration', async () => {
    const s = await h.task('llama-q8', 'llama-server', [
      '-m',
      model,
      '-c',
      '8192',
      '-fa',
      'on',
      '-ctk',
      'q8_0',
      '-ctv',
      'q8_0',
      '-np',
      '2',
      '--weights-mib',
      '1918',
    ]);
    const r = await s.start();
    assert.ok(r.ok, logOf('llama-q8'));
    const log = logOf('llama-q8');
    // What the terminal names as assumed is what the arguments said.
    assert.match(
      log,
      /Assumed: context 8192 tokens, 2 slots \(KV cache split per slot\), flash attention on, KV cache q8_0, micro-batch 512, 28 of 28 layers on the GPU/,
    );
    assert.match(log, /Settings from the task's arguments: -m \S+ -c 8192 -fa on -ctk q8_0 -ctv q8_0 -np 2\./);
    // Llama 3.2 3B: 28 layers × 8192 cells × (8 KV heads × 128) × 2 (K and V) × 34/32 bytes (q8_0 blocks) = 476 MiB.
    assert.match(log, /KV cache 476 MiB/);
    const kv = s.lastGate!.checks.find((c) => c.id === 'preflight.estimate')!.data as { kvCacheBytes: number };
    assert.equal(kv.kvCacheBytes, (28 * 8192 * 8 * 128 * 2 * 34) / 32);
    await s.stop('test');

    // The same model with llama-server's defaults is sized differently: f16, 4 slots, the training context.
    const d = await h.task('llama-defaults', 'llama-server', ['-m', model, '--weights-mib', '1918']);
    await d.start();
    assert.match(logOf('llama-defaults'), /Assumed: context \d+ tokens, 4 slots \(one unified KV cache\), flash attention on, KV cache f16/);
    assert.match(logOf('llama-defaults'), /no -np: llama-server's 4 slots/);
    await d.stop('test');
  });
});

describe('reservations', () => {
  it('of two tasks started together, the second is refused when only one fits', async () => {
    h.reservations = new ReservationBook(join(dir, 'reservations.json'));
    try {
      // 6728 MiB free: each needs 4 GiB, so only one fits. Loading takes a while, so NVML shows neither when the gates run.
      const a = await h.task('first', 'llama-server', ['--weights-mib', '3900', '--kv-mib-per-1k', '0', '--load-ms', '300'], { needs: '4GiB' });
      const b = await h.task('second', 'llama-server', ['--weights-mib', '3900', '--kv-mib-per-1k', '0', '--load-ms', '300'], { needs: '4GiB' });
      const [ra, rb] = await Promise.all([a.start(), b.start()]);
      const outcomes = [ra, rb];
      assert.equal(outcomes.filter((r) => r.ok).length, 1, `${logOf('first')}\n---\n${logOf('second')}`);
      const refused = ra.ok ? b : a;
      const passed = ra.ok ? a : b;
      assert.equal(refused.state, 'refused');
      assert.match(
        logOf(refused.name),
        new RegExp(
          // One sentence first (4096 MiB = 4.0 GiB needed, 2632 MiB = 2.6 GiB free, 1464 MiB = 1.4 GiB short), then the check's figures.
          `VRAM gate: FAIL — Not started: ${refused.name} needs 4\\.0 GiB, 2\\.6 GiB is free \\(1\\.4 GiB short\\)\\.\\n.*Free VRAM for the need: 2632 MiB free \\(6728 MiB less 4096 MiB reserved by "${passed.name}", starting\\) < 4096 MiB needed`,
        ),
      );
      // Shared on disk while the first loads, then dropped once its memory shows in NVML.
      await pollUntil(async () => !(await h.reservations!.list()).length, 'the reservation to be released once NVML shows the server', 8000, 50);
      assert.ok((await h.used()) > 1464 * MiB + 3900 * MiB);
      await passed.stop('test');
    } finally {
      h.reservations = undefined;
    }
  });

  it('without reservations, both would pass on the same free memory (what the reservation prevents)', async () => {
    const a = await h.task('first-unreserved', 'llama-server', ['--weights-mib', '3900', '--kv-mib-per-1k', '0', '--load-ms', '300'], { needs: '4GiB' });
    const b = await h.task('second-unreserved', 'llama-server', ['--weights-mib', '3900', '--kv-mib-per-1k', '0', '--load-ms', '300'], { needs: '4GiB' });
    const gates = await Promise.all(
      [a, b].map(async (s) => {
        await s.start();
        return s.lastGate!.status;
      }),
    );
    assert.deepEqual(gates, ['pass', 'pass']);
    await Promise.all([a.stop('test'), b.stop('test')]);
  });
});

describe('measured footprints', () => {
  it('a second start of the same model uses the measured footprint; a changed setting falls back to the estimate', async () => {
    h.footprints = new FootprintStore(dir);
    try {
      const args = ['-m', model, '-c', '4096', '-np', '1', '-fa', 'on', '--weights-mib', '1918', '--kv-mib-per-1k', '112', '--nvml-extra-mib', '300'];
      const first = await h.task('llama-measure', 'llama-server', args);
      assert.ok((await first.start()).ok);
      const estimateBytes = first.lastGate!.expectedBytes!;
      await pollUntil(() => logOf('llama-measure').includes('Measured footprint'), 'the footprint to be measured', 8000, 50);
      // What the emulated server allocated in NVML: weights 1918 + KV 448 + compute 100 + CUDA context 300 MiB.
      const measured = (1918 + 448 + 100 + 300) * MiB;
      assert.match(
        logOf('llama-measure'),
        new RegExp(`Measured footprint: 2766 MiB \\(NVML, the server's processes, settled\\); the estimate was ${Math.round(estimateBytes / MiB)} MiB`),
      );
      await first.stop('test');

      const again = await h.task('llama-measure-again', 'llama-server', args);
      assert.ok((await again.start()).ok);
      assert.equal(again.lastGate!.expectedBytes, measured, 'the gate uses what NVML measured');
      assert.match(
        logOf('llama-measure-again'),
        /Measured need: .*measured on \d{4}-\d\d-\d\d \d\d:\d\d: 2766 MiB \(NVML, the server's processes, same file and settings\); estimate was \d+ MiB/,
      );
      await again.stop('test');

      const changed = await h.task(
        'llama-measure-8k',
        'llama-server',
        args.map((a) => (a === '4096' ? '8192' : a)),
      );
      assert.ok((await changed.start()).ok);
      assert.notEqual(changed.lastGate!.expectedBytes, measured);
      assert.match(logOf('llama-measure-8k'), /Estimated need: /);
      await changed.stop('test');
      const stored = JSON.parse(await readFile(h.footprints.path, 'utf8'));
      assert.equal(stored.version, 1);
      assert.ok(stored.footprints.some((f: { measuredBytes: number }) => f.measuredBytes === measured));
    } finally {
      h.footprints = undefined;
    }
  });
});

describe('--fit and fit advice at the gate', () => {
  it('a refusal says what would fit, with flags ready to paste and their totals', async () => {
    // 6728 MiB free: the full 131072-token context in f16 for 4 slots is far beyond it.
    const s = await h.task('llama-too-big', 'llama-server', ['-m', model, '-c', '131072', '-fa', 'on', '-ngl', '99', '--weights-mib', '1918']);
    const r = await s.start();
    assert.equal(r.ok, false);
    const log = logOf('llama-too-big');
    assert.match(log, /VRAM gate: FAIL/);
    // 6472 MiB free less the 256 MiB margin; CRITICAL (7168 MiB) − 1464 MiB used leaves 5704 MiB: the smaller is the budget.
    assert.match(
      log,
      /What would fit in 5704 MiB \(free less the margin, below CRITICAL\): largest context that fits: `-c \d+` → \d+ MiB; largest context with a q8_0 KV cache: `-c \d+ -ctk q8_0 -ctv q8_0` → \d+ MiB/,
    );
    const ctx = Number(/`-c (\d+)` →/.exec(log)![1]);
    const q8 = Number(/`-c (\d+) -ctk q8_0/.exec(log)![1]);
    assert.ok(q8 > ctx, 'a q8_0 cache fits a longer context');
    // The advice is real: starting with the suggested context passes the gate.
    const fixed = await h.task('llama-fixed', 'llama-server', ['-m', model, '-c', String(ctx), '-fa', 'on', '-ngl', '99', '--weights-mib', '1918']);
    assert.ok((await fixed.start()).ok, logOf('llama-fixed'));
    assert.equal(fixed.lastGate!.status === 'fail', false);
    await fixed.stop('test');
  });

  it('with no -c and --fit on, says plainly that the server will take all free memory but the fit margin', async () => {
    const s = await h.task('llama-fit', 'llama-server', ['-m', model, '--weights-mib', '1918']);
    await s.start();
    assert.match(
      logOf('llama-fit'),
      /No -c and --fit is on \(llama\.cpp's default\): the full 131072-token context \(\d+ MiB\) does not fit, so llama-server will lower it to about \d+ tokens and take about \d+ MiB: all free memory but the 1024 MiB fit margin\./,
    );
    await s.stop('test');
    assert.equal(baseGpu().total, 8 * GiB);
  });
});
