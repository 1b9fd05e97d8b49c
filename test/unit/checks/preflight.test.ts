/** The pre-flight checks over samples read from the fake NVML library: every check's boundaries. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { hasBrokenProcessData, preflightExitCode, runPreflight, type PreflightOptions, type PreflightReport } from '../../../src/core/checks/preflight.ts';
import { resolveModelNeed } from '../../../src/core/estimate/server-need.ts';
import type { PreflightNeed } from '../../../src/core/checks/preflight.ts';
import { preflightSummary } from '../../../src/core/checks/preflight-report.ts';
import { openNvml } from '../../../src/core/gpu/nvml-source.ts';
import { parseSize, type SizeSpec } from '../../../src/core/units.ts';
import { parseThresholds } from '../../../src/core/watch/thresholds.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB, type FakeDevice, type FakeState } from '../../helpers/fake-nvml.ts';
import { GEMMA2_2B, LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';
import type { GpuReading } from '../../../src/core/watch/watcher.ts';

let lib: string;

/** The need of a model run with llama-server's `args`, as the gate and the CLI build it. */
async function modelNeed(path: string, args: string[]): Promise<PreflightNeed> {
  const r = await resolveModelNeed({
    server: 'llama-server',
    args: ['-m', path, ...args],
    env: {},
    cwd: null,
    model: null,
    from: '--args',
    totalVramBytes: null,
  });
  if (!r.ok) assert.fail(r.error);
  return { kind: 'model', need: r.need, measured: null, flavour: 'llama-server' };
}

/** One sample of the fake library holding `state`, as the pre-flight receives it. */
async function gpuOf(state: FakeState): Promise<GpuReading> {
  const fake = await FakeNvmlState.create(state);
  process.env.FAKE_NVML_STATE = fake.path;
  const opened = await openNvml({ libraryPath: lib, platform: 'linux' });
  assert.ok(opened.ok, opened.ok ? '' : opened.reason);
  try {
    return { ok: true, sample: await opened.source.sample(1000), description: opened.source.description };
  } finally {
    await opened.source.dispose();
  }
}

/** The desktop's share of a card at rest: 1464 MiB, all held by processes. */
const desktop = [
  { pid: 1187, used: 1140 * MiB, name: '/usr/lib/xorg/Xorg', kind: 'graphics' as const },
  { pid: 2290, used: 324 * MiB, name: 'gnome-shell', kind: 'graphics' as const },
];

/** An 8 GiB card (the RTX 3070 a user measured on) with `freeMiB` free and nothing reserved; at rest, 1464 MiB used by the desktop. */
function card(over: Partial<FakeDevice> & { freeMiB?: number } = {}): FakeDevice {
  const { freeMiB, ...rest } = over;
  const total = rest.total ?? 8 * GiB;
  return {
    name: 'NVIDIA GeForce RTX 3070',
    uuid: 'GPU-3070',
    total,
    used: freeMiB === undefined ? 1464 * MiB : total - freeMiB * MiB,
    reserved: 0,
    persistence: 1,
    processes: freeMiB === undefined ? desktop : [],
    ...rest,
  };
}

const size = (text: string): SizeSpec => {
  const s = parseSize(text);
  assert.ok(!('error' in s));
  return s;
};

const cardThresholds = parseThresholds({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, '2%').spec;

function options(over: Partial<PreflightOptions> = {}): PreflightOptions {
  return {
    gpu: 0,
    need: { kind: 'none' },
    margin: size('1GiB'),
    residualThreshold: size('100MiB'),
    thresholds: parseThresholds(undefined, undefined).spec,
    platform: 'linux',
    strict: false,
    ...over,
  };
}

const needMiB = (mib: number): PreflightOptions['need'] => ({ kind: 'size', bytes: mib * MiB, from: '--need' });

function checkOf(report: PreflightReport, id: string) {
  const c = report.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in ${report.checks.map((x) => x.id).join(', ')}`);
  return c;
}

describe('pre-flight checks (fake NVML)', () => {
  before(async () => {
    lib = await buildFakeNvml();
  });

  it('a 6144 MiB need with 500 MiB free fails, with the numbers and what to do', async () => {
    const report = runPreflight(await gpuOf({ devices: [card({ freeMiB: 500 })] }), options({ need: needMiB(6144) }));
    const free = checkOf(report, 'preflight.free');
    assert.equal(free.status, 'fail');
    assert.equal(
      free.detail,
      '500 MiB free < 6144 MiB needed: 5644 MiB short (6668 MiB with the 1024 MiB margin). The server would stop with CUDA out of memory or spill to the CPU.',
    );
    assert.match(free.advice, /ollama stop/);
    assert.equal(report.verdict, 'fail');
    assert.equal(preflightExitCode(report, false), 1);
  });

  it('free VRAM: pass at need + margin, warn below the margin, fail below the need', async () => {
    const cases: Array<[number, string]> = [
      [6144 + 1024 + 1, 'pass'],
      [6144 + 1024, 'pass'],
      [6144 + 1023, 'warn'],
      [6144, 'warn'],
      [6143, 'fail'],
    ];
    for (const [freeMiB, status] of cases) {
      const report = runPreflight(await gpuOf({ devices: [card({ total: 16 * GiB, freeMiB })] }), options({ need: needMiB(6144) }));
      assert.equal(checkOf(report, 'preflight.free').status, status, `${freeMiB} MiB free for 6144 MiB + 1 GiB margin`);
    }
    const warn = runPreflight(await gpuOf({ devices: [card({ total: 16 * GiB, freeMiB: 6644 })] }), options({ need: needMiB(6144) }));
    assert.match(checkOf(warn, 'preflight.free').detail, /^6644 MiB free: the 6144 MiB needed fits, but leaves 500 MiB, less than the 1024 MiB margin/);
  });

  it('the margin is a setting: a size or a share of the total', async () => {
    const gpu = await gpuOf({ devices: [card({ freeMiB: 6400 })] });
    assert.equal(checkOf(runPreflight(gpu, options({ need: needMiB(6144), margin: size('256MiB') })), 'preflight.free').status, 'pass');
    assert.equal(checkOf(runPreflight(gpu, options({ need: needMiB(6144), margin: size('5%') })), 'preflight.free').status, 'warn', '5% of 8 GiB is 410 MiB');
  });

  it('residual memory: warn only above the 100 MiB threshold of used memory no process holds', async () => {
    const at = (usedMiB: number, processMiB: number) =>
      gpuOf({ devices: [card({ used: usedMiB * MiB, processes: processMiB ? [{ pid: 4242, used: processMiB * MiB, name: '/usr/local/bin/ollama' }] : [] })] });
    const exactly = checkOf(runPreflight(await at(2938, 2838), options()), 'preflight.residual');
    assert.equal(exactly.status, 'pass');
    assert.equal(exactly.detail, '100 MiB of the 2938 MiB used belongs to no running process (1 process holds 2838 MiB); threshold 100 MiB.');
    const above = checkOf(runPreflight(await at(2939, 2838), options()), 'preflight.residual');
    assert.equal(above.status, 'warn');
    assert.match(above.detail, /^101 MiB of the 2939 MiB used belongs to no running process/);
    assert.match(above.advice, /left behind by a process that is gone/);
    // A clean card after a crash: memory used, no process at all.
    const leftover = checkOf(runPreflight(await at(1500, 0), options()), 'preflight.residual');
    assert.equal(leftover.status, 'warn');
    assert.match(leftover.detail, /^1500 MiB of the 1500 MiB used belongs to no running process \(no process holds any\)/);
    assert.equal(checkOf(runPreflight(await at(1500, 0), options({ residualThreshold: size('2GiB') })), 'preflight.residual').status, 'pass');
  });

  it("residual memory on the v1 memory path: a clean card is not a leftover (used includes the driver's reserved memory)", async () => {
    // An RTX 3070 reserving 312 MiB, _v2 refused: NVML's v1 call reports the reservation as used.
    const clean = await gpuOf({ devices: [card({ used: 0, reserved: 312 * MiB, processes: [], memoryV2Rc: 25 })] });
    assert.equal(clean.ok && clean.sample.devices[0]?.memory?.reserved, null, 'the v1 path');
    assert.equal(clean.ok && clean.sample.devices[0]?.memory?.used, 312 * MiB);
    const r = checkOf(runPreflight(clean, options()), 'preflight.residual');
    assert.equal(r.status, 'pass', r.detail);
    assert.match(
      r.detail,
      /^312 MiB of the 312 MiB used belongs to no running process \(no process holds any\), of which up to 312 MiB can be the driver's reserved memory/,
    );
    // A real leftover still warns: 1500 MiB with nothing running is more than any reservation.
    const leftover = await gpuOf({ devices: [card({ used: 1500 * MiB, reserved: 312 * MiB, processes: [], memoryV2Rc: 25 })] });
    assert.equal(checkOf(runPreflight(leftover, options()), 'preflight.residual').status, 'warn');
  });

  it('residual memory with one process of unknown size: judged from the others where it can be', async () => {
    const mixed = (usedMiB: number) =>
      gpuOf({
        devices: [
          card({
            used: usedMiB * MiB,
            processes: [
              { pid: 4242, used: 2838 * MiB, name: '/usr/local/bin/ollama' },
              { pid: 7, used: 'na', name: 'python3' },
            ],
          }),
        ],
      });
    // 50 MiB beyond what ollama holds: under the threshold whatever python3 holds.
    const small = checkOf(runPreflight(await mixed(2888), options()), 'preflight.residual');
    assert.equal(small.status, 'pass');
    assert.match(small.detail, /^50 MiB of the 2888 MiB used belongs to no running process \(1 process holds 2838 MiB; python3 \(PID 7\) reports no figure\)/);
    // 1000 MiB beyond: python3 may hold it, so it cannot be called a leftover — said, not warned.
    const big = checkOf(runPreflight(await mixed(3838), options()), 'preflight.residual');
    assert.equal(big.status, 'unavailable');
    assert.match(big.detail, /^1000 MiB of the 3838 MiB used .*the processes without a figure may hold it/);
  });

  it('residual memory cannot be told where the driver gives no per-process figures (WDDM, WSL)', async () => {
    const gpu = await gpuOf({ devices: [card({ processes: [{ pid: 7, used: 'na', name: 'python3' }] })] });
    const r = checkOf(runPreflight(gpu, options()), 'preflight.residual');
    assert.equal(r.status, 'unavailable');
    assert.match(r.detail, /does not report per-process memory/);
  });

  it('the level after the need is added: OK passes, WARNING warns, CRITICAL fails', async () => {
    const gpu = await gpuOf({ devices: [card({ used: 1464 * MiB })] });
    const level = (need: number) =>
      checkOf(runPreflight(gpu, options({ need: needMiB(need), thresholds: cardThresholds, margin: size('0MiB') })), 'preflight.level');
    const okLevel = level(2838);
    assert.equal(okLevel.status, 'pass');
    assert.equal(
      okLevel.detail,
      '1464 MiB used + 2838 MiB needed = 4302 MiB of 8192 MiB (52.5%): OK (WARNING at 6144 MiB, CRITICAL at 7168 MiB, EMERGENCY at 7782 MiB).',
    );
    assert.equal(level(6144 - 1464 - 1).status, 'pass');
    assert.equal(level(6144 - 1464).status, 'warn');
    assert.match(level(6144 - 1464).advice, /WARNING/);
    assert.equal(level(7168 - 1464).status, 'fail');
    assert.match(level(7168 - 1464).detail, /: CRITICAL/);
    assert.equal(level(7782 - 1464).status, 'fail');
    const report = runPreflight(gpu, options({ need: needMiB(7168 - 1464), thresholds: cardThresholds }));
    assert.equal(report.projectedLevel, 'critical');
  });

  it("without a need, the free check has nothing to compare and the level is today's", async () => {
    const report = runPreflight(await gpuOf({ devices: [card()] }), options());
    assert.equal(checkOf(report, 'preflight.free').status, 'unavailable');
    assert.match(checkOf(report, 'preflight.free').advice, /--need 6GiB\) or the model \(--model path\.gguf\)/);
    assert.equal(checkOf(report, 'preflight.level').title, 'Level now');
    assert.equal(report.verdict, 'pass');
    assert.equal(report.needBytes, null);
  });

  it('persistence mode off warns on Linux (slow init) and is not checked elsewhere', async () => {
    const off = await gpuOf({ devices: [card({ persistence: 0 })] });
    const p = checkOf(runPreflight(off, options()), 'preflight.persistence');
    assert.equal(p.status, 'warn');
    assert.match(p.detail, /can take seconds/);
    assert.match(p.advice, /nvidia-persistenced/);
    assert.equal(checkOf(runPreflight(await gpuOf({ devices: [card({ persistence: 1 })] }), options()), 'preflight.persistence').status, 'pass');
    assert.equal(
      runPreflight(off, options({ platform: 'win32' })).checks.some((c) => c.id === 'preflight.persistence'),
      false,
    );
    const unknown = await gpuOf({ devices: [card({ unsupported: ['persistence'] })] });
    assert.equal(checkOf(runPreflight(unknown, options()), 'preflight.persistence').status, 'unavailable');
  });

  it('drivers 535.43 to 535.86 warn about broken process data', async () => {
    for (const [driver, broken] of [
      ['535.43.02', true],
      ['535.54.03', true],
      ['535.86.10', true],
      ['535.42.01', false],
      ['535.104.05', false],
      ['550.54.14', false],
      ['530.41.03', false],
    ] as const) {
      assert.equal(hasBrokenProcessData(driver), broken, driver);
    }
    const report = runPreflight(await gpuOf({ driver: '535.54.03', procStride: 32, devices: [card()] }), options());
    const d = checkOf(report, 'preflight.driver');
    assert.equal(d.status, 'warn');
    assert.match(d.detail, /^Driver 535\.54\.03 is in the 535\.43–535\.86 range/);
    assert.match(d.advice, /535\.104 or later/);
    assert.equal(checkOf(runPreflight(await gpuOf({ driver: '550.54.14', devices: [card()] }), options()), 'preflight.driver').status, 'pass');
  });

  it('processes no task owns warn when tasks are tracked, and are not judged when they are not', async () => {
    const gpu = await gpuOf({
      devices: [
        card({
          used: 4100 * MiB,
          processes: [
            { pid: 4242, used: 2838 * MiB, name: '/usr/local/bin/ollama' },
            { pid: 4343, used: 1116 * MiB, name: 'python3' },
            { pid: 1187, used: 50 * MiB, name: 'Xorg', kind: 'graphics' },
          ],
        }),
      ],
    });
    const tracked = runPreflight(gpu, options({ ownedPids: new Set([4242]) }));
    const u = checkOf(tracked, 'preflight.unowned');
    assert.equal(u.status, 'warn');
    assert.equal(u.detail, '1 process no task started holds VRAM: python3 (PID 4343) 1116 MiB.');
    assert.deepEqual(u.data, { pids: [4343] });
    assert.equal(checkOf(runPreflight(gpu, options({ ownedPids: new Set([4242, 4343]) })), 'preflight.unowned').status, 'pass');
    assert.equal(
      runPreflight(gpu, options()).checks.some((c) => c.id === 'preflight.unowned'),
      false,
    );
  });

  it('NVML missing: says so and does not block; --strict makes it fail', () => {
    const none: GpuReading = { ok: false, reason: 'no NVML: libnvidia-ml.so.1: cannot open shared object file; no nvidia-smi: not found on PATH' };
    const report = runPreflight(none, options({ need: needMiB(6144) }));
    assert.equal(report.verdict, 'unavailable');
    assert.deepEqual(
      report.checks.map((c) => [c.id, c.status]),
      [['preflight.gpu', 'unavailable']],
    );
    assert.match(report.checks[0]!.detail, /^No GPU source: no NVML: .*the pre-flight does not block\.$/);
    assert.equal(preflightExitCode(report, true), 0);
    const strict = runPreflight(none, options({ need: needMiB(6144), strict: true }));
    assert.equal(strict.verdict, 'fail');
    assert.equal(strict.checks[0]!.status, 'fail');
    assert.equal(preflightExitCode(strict, false), 1);
  });

  it('a GPU that is not there, or lost, fails', async () => {
    const gpu = await gpuOf({ devices: [card(), card({ uuid: 'GPU-2' })] });
    const missing = runPreflight(gpu, options({ gpu: 3 }));
    assert.equal(missing.verdict, 'fail');
    assert.equal(checkOf(missing, 'preflight.gpu').detail, 'GPU 3 was not found: this machine has GPUs 0, 1.');
    const lost = runPreflight(await gpuOf({ devices: [card({ rc: 15 })] }), options());
    assert.equal(lost.verdict, 'fail');
    assert.match(checkOf(lost, 'preflight.gpu').detail, /GPU_IS_LOST/);
  });

  it('warnings exit 0, or 3 with --fail-on-warn', async () => {
    const report = runPreflight(await gpuOf({ devices: [card({ persistence: 0 })] }), options({ need: needMiB(1024) }));
    assert.equal(report.verdict, 'warn');
    assert.equal(preflightExitCode(report, false), 0);
    assert.equal(preflightExitCode(report, true), 3);
  });

  it('the need from a GGUF estimate at the given arguments; a model without an estimate does not block, a missing file fails', async () => {
    const gpu = await gpuOf({ devices: [card()] });
    const need = await modelNeed(await writeGguf('llama-3.2-3b', LLAMA_32_3B, { sparse: true }), ['-c', '4096', '-np', '1', '-fa', 'off']);
    const report = runPreflight(gpu, options({ need, thresholds: cardThresholds }));
    assert.equal(report.needFrom, 'estimate');
    const estimate = checkOf(report, 'preflight.estimate');
    assert.equal(estimate.status, 'pass');
    // llama.cpp printed "model buffer size = 1918.35 MiB" for this file; its KV cache is 28 layers × 4096 cells × 2048 (K and V of 8 heads × 128) × 2 bytes = 448 MiB.
    const m =
      /^Llama 3\.2 3B Instruct \(llama\), llama-3\.2-3b\.gguf: weights 1918 MiB \+ KV cache 448 MiB \+ compute buffer (\d+) MiB \+ CUDA context 256 MiB = (\d+) MiB\./.exec(
        estimate.detail,
      );
    assert.ok(m, estimate.detail);
    assert.equal(Math.round(report.needBytes! / MiB), Number(m[2]), 'the need is the total shown');
    assert.match(estimate.detail, /Assumed: context 4096 tokens, 1 slot, flash attention off, KV cache f16/);
    assert.match(estimate.detail, /Settings from --args: -m \S+ -c 4096 -np 1 -fa off\./);
    assert.equal(checkOf(report, 'preflight.free').status, 'pass');
    assert.equal(report.verdict, 'pass');

    // -ts 1,1: llama.cpp's split points 0.5 and 1 over the 29 offloaded layers (28 and the output):
    // layers 0–14 on device 0, 15–27 and the output on device 1; 16 MiB of KV cache per layer.
    const split = runPreflight(
      gpu,
      options({
        need: await modelNeed(need.kind === 'model' ? need.need.modelPath : '', ['-c', '4096', '-np', '1', '-fa', 'off', '-ts', '1,1']),
        thresholds: cardThresholds,
      }),
    );
    assert.match(
      checkOf(split, 'preflight.estimate').detail,
      /Per GPU \(-ts\): device 0 \d+ MiB \(15 layers, KV cache 240 MiB\), device 1 \d+ MiB \(13 layers and the output layer, KV cache 208 MiB\); the check sets their sum against one GPU/,
    );

    const { 'general.architecture': _arch, ...noArch } = GEMMA2_2B.metadata;
    const unsized = await modelNeed(await writeGguf('gemma-2-2b-no-arch', { ...GEMMA2_2B, metadata: noArch }, { sparse: true }), ['-c', '4096']);
    const noEstimate = runPreflight(gpu, options({ need: unsized }));
    assert.equal(checkOf(noEstimate, 'preflight.estimate').status, 'unavailable');
    assert.match(checkOf(noEstimate, 'preflight.estimate').detail, /^No estimate: .*has no general\.architecture/);
    assert.equal(checkOf(noEstimate, 'preflight.free').status, 'unavailable');
    assert.equal(noEstimate.verdict, 'pass');

    const failed = runPreflight(gpu, options({ need: await modelNeed('/nonexistent/model.gguf', []) }));
    assert.equal(checkOf(failed, 'preflight.estimate').status, 'fail');
    assert.equal(failed.verdict, 'fail');
  });
});

describe('pre-flight summary line', () => {
  it('names the first failure, else the first warning, else the free VRAM', () => {
    const base: PreflightReport = {
      verdict: 'pass',
      source: null,
      driverVersion: null,
      gpu: null,
      needBytes: null,
      needFrom: null,
      model: null,
      reservedBytes: 0,
      reservations: [],
      marginBytes: null,
      projectedLevel: null,
      checks: [],
    };
    const c = (id: string, title: string, status: 'pass' | 'warn' | 'fail', detail: string) => ({ id, title, status, detail, advice: '' });
    assert.equal(
      preflightSummary({
        ...base,
        verdict: 'fail',
        checks: [c('a', 'Persistence mode', 'warn', 'Off.'), c('preflight.free', 'Free VRAM for the need', 'fail', '500 MiB free < 6144 MiB needed.')],
      }),
      'FAIL: Free VRAM for the need: 500 MiB free < 6144 MiB needed.',
    );
    assert.equal(preflightSummary({ ...base, verdict: 'warn', checks: [c('a', 'Persistence mode', 'warn', 'Off.')] }), 'WARN: Persistence mode: Off.');
    assert.equal(
      preflightSummary({ ...base, checks: [c('preflight.free', 'Free VRAM for the need', 'pass', '7000 MiB free ≥ 2879 MiB needed.')] }),
      'PASS: 7000 MiB free ≥ 2879 MiB needed.',
    );
    assert.equal(
      preflightSummary({
        ...base,
        verdict: 'unavailable',
        checks: [{ ...c('preflight.gpu', 'GPU figures', 'pass', 'No GPU source: no NVML.'), status: 'unavailable' }],
      }),
      'NOT CHECKED: No GPU source: no NVML.',
    );
  });
});
