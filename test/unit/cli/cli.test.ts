/** The built CLI end to end, against the fake NVML library. Needs `npm run build` first (npm test does it). */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { cliPath, runCli } from '../../helpers/cli-run.ts';
import { buildFakeNvml, FakeNvmlState, GiB, laptopA1000AtCritical, MiB, type FakeState } from '../../helpers/fake-nvml.ts';

const cli = cliPath;

/** The A1000 of the shared fixture, with every figure the status line shows and a graphics process without a figure. */
const state: FakeState = {
  ...laptopA1000AtCritical,
  devices: [
    {
      ...laptopA1000AtCritical.devices[0]!,
      utilGpu: 97,
      utilMem: 60,
      temp: 78,
      powerMw: 35_000,
      persistence: 0,
      processes: [
        { pid: 2001, used: 3686 * MiB, name: '/opt/swictation/bin/python3' },
        { pid: 2002, used: 'na', name: 'Xwayland', kind: 'graphics' },
      ],
    },
  ],
};

describe('vram-guard CLI', () => {
  let lib: string;
  before(async () => {
    assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
    lib = await buildFakeNvml();
  });

  it('status --json reports exactly what the library holds, with levels', async () => {
    const fake = await FakeNvmlState.create(state);
    const r = await runCli(['status', '--json', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      source: 'nvml',
      driverVersion: '550.54.14',
      devices: [
        {
          index: 0,
          name: 'NVIDIA RTX A1000 Laptop GPU',
          uuid: 'GPU-a1000',
          memory: { total: 4 * GiB, used: 3830 * MiB, free: 4 * GiB - 3830 * MiB - 94 * MiB, reserved: 94 * MiB },
          utilization: { gpu: 97, memory: 60 },
          temperatureC: 78,
          powerW: 35,
          persistenceMode: false,
          level: 'critical',
          error: null,
          processes: [
            { pid: 2001, name: '/opt/swictation/bin/python3', usedBytes: 3686 * MiB },
            { pid: 2002, name: 'Xwayland', usedBytes: null },
          ],
        },
      ],
    });
  });

  it('status finds the library through VRAM_GUARD_NVML_LIBRARY and takes --thresholds', async () => {
    const fake = await FakeNvmlState.create(state);
    const r = await runCli(['status', '--json', '--thresholds', 'warning=95%,critical=97%,emergency=99%'], {
      FAKE_NVML_STATE: fake.path,
      VRAM_GUARD_NVML_LIBRARY: lib,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).devices[0].level, 'ok');
  });

  it('status prints a readable table without --json', async () => {
    const fake = await FakeNvmlState.create(state);
    const r = await runCli(['status', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /GPU 0 {2}NVIDIA RTX A1000 Laptop GPU {2}3830 MiB \/ 4096 MiB \(93\.5%\) {2}CRITICAL/);
    assert.match(r.stdout, /3686 MiB {2}python3 \(PID 2001\)/);
    assert.match(r.stdout, /N\/A {2}Xwayland \(PID 2002\)/);
  });

  it('status exits 2 with the reason on stderr when no source is available', async () => {
    const r = await runCli(['status', '--json', '--source', 'nvml', '--nvml-library', '/nonexistent/libnvidia-ml.so.1'], {});
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^vram-guard: no GPU source available: no NVML: .*\/nonexistent\/libnvidia-ml\.so\.1 \(setting\)/);
  });

  it('a bad option exits 64 and says what is wrong', async () => {
    const r = await runCli(['status', '--thresholds', 'warning=90%,critical=80%,emergency=95%'], {});
    assert.equal(r.code, 64);
    assert.match(r.stderr, /--thresholds: warning < critical < emergency is required/);
    const unknown = await runCli(['stats'], {});
    assert.equal(unknown.code, 64);
    assert.match(unknown.stderr, /unknown command "stats"/);
  });

  it('watch --json prints a line per sample and per level change, until interrupted', async () => {
    const fake = await FakeNvmlState.create({ devices: [{ ...state.devices[0]!, used: 2 * GiB }] });
    let rewritten = false;
    const r = await runCli(
      ['watch', '--json', '--interval', '100', '--fixed-rate', '--nvml-library', lib],
      { FAKE_NVML_STATE: fake.path },
      {
        interruptWhen: (out) => {
          const lines = out.trim().split('\n');
          if (!rewritten && lines.length >= 2) {
            rewritten = true;
            void fake.write({ devices: [{ ...state.devices[0]!, used: 3900 * MiB }] });
          }
          return out.includes('"type":"transition"') && lines.length >= 5;
        },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(lines.filter((l) => l.type === 'sample').length >= 3);
    const transition = lines.find((l) => l.type === 'transition');
    assert.deepEqual(
      { from: transition.from, to: transition.to, usedBytes: transition.usedBytes, gpu: transition.gpu },
      { from: 'ok', to: 'emergency', usedBytes: 3900 * MiB, gpu: 0 },
    );
    assert.equal(typeof transition.timestamp, 'number');
  });
});
