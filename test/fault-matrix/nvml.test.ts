/**
 * Fault matrix: NVML. Each test puts the fake libnvidia-ml (built from C, loaded through koffi in the
 * NVML worker thread, as in the product) into one fault and checks what the user sees: the status
 * bar's text and tooltip, the notifications, the fallback chain, or the CLI's output and exit code.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { FallbackChain } from '../../src/core/fallback/chain.ts';
import type { FallbackExecutor } from '../../src/core/fallback/executor.ts';
import { parseSteps } from '../../src/core/servers/fallback-steps.ts';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import {
  buildFakeNvml,
  desktopRtx3070,
  fakeNvmlCallCounter,
  FakeNvmlState,
  GiB,
  MiB,
  NVML_U64_NOT_AVAILABLE,
  type FakeDevice,
  type FakeState,
  type FakeVariant,
} from '../helpers/fake-nvml.ts';
import { watch, type WatchHarness } from '../helpers/watch-harness.ts';
import { EventLoopLag } from '../helpers/event-loop-lag.ts';

const libs = new Map<FakeVariant, string>();
const running: WatchHarness[] = [];

before(async () => {
  for (const v of ['current', 'no-v3', 'oldest'] as const) libs.set(v, await buildFakeNvml(v));
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run \`npm run build\` first`);
});
after(async () => {
  for (const h of running) await h.stop();
});

/** Writes the fake's state and points the library at it (the library reads FAKE_NVML_STATE at every call). */
async function fakeState(state: FakeState): Promise<FakeNvmlState> {
  const fake = await FakeNvmlState.create(state);
  process.env.FAKE_NVML_STATE = fake.path;
  return fake;
}

function watchNvml(
  variant: FakeVariant,
  extra: Partial<Parameters<typeof watch>[0]> & { sampleTimeoutMs?: number; initTimeoutMs?: number } = {},
): WatchHarness {
  const h = watch({
    probe: {
      preference: 'nvml',
      nvmlLibraryPath: libs.get(variant)!,
      nvmlSampleTimeoutMs: extra.sampleTimeoutMs ?? 300,
      nvmlInitTimeoutMs: extra.initTimeoutMs,
    },
    ...extra,
  });
  running.push(h);
  return h;
}

const rtx3070 = (over: Partial<FakeDevice> = {}): FakeState => desktopRtx3070(over);
const gpu0 = (h: WatchHarness) => h.watcher.latest?.sample.devices[0];
const hasMemory = (h: WatchHarness) => () => gpu0(h)?.memory != null;

/** Local HH:MM:SS, as a person reads a clock. */
const hhmmss = (ms: number) => new Date(ms).toTimeString().slice(0, 8);

test('NVML library missing → "no GPU" naming every path tried; the CLI says so on stderr and exits 2', async () => {
  const h = watch({ probe: { preference: 'nvml', nvmlLibraryPath: '/opt/nowhere/libnvidia-ml.so.1', env: { PATH: process.env.PATH } } });
  running.push(h);
  await h.until('the status to be "none"', () => h.watcher.status.state === 'none');
  const v = h.view();
  assert.equal(v.text, '$(chip) no GPU');
  assert.match(v.tooltip, /no NVML library could be loaded: \/opt\/nowhere\/libnvidia-ml\.so\.1 \(setting\)/);
  assert.match(v.tooltip, /libnvidia-ml\.so\.1 \(default\)/);

  const cli = await runCli(['status', '--source', 'nvml', '--nvml-library', '/opt/nowhere/libnvidia-ml.so.1'], {});
  assert.equal(cli.code, 2);
  assert.equal(cli.stdout, '');
  assert.match(cli.stderr, /^vram-guard: no GPU source available: no NVML: no NVML library could be loaded: \/opt\/nowhere\/libnvidia-ml\.so\.1 \(setting\)/);
});

test('nvmlInit fails (driver not loaded) → "no GPU" with NVML\'s reason and what to do; the CLI exits 2', async () => {
  const fake = await fakeState({ ...rtx3070(), initRc: 9 });
  const h = watchNvml('current');
  await h.until('the status to be "none"', () => h.watcher.status.state === 'none');
  assert.equal(h.view().text, '$(chip) no GPU');
  assert.match(h.view().tooltip, /nvmlInit failed with DRIVER_NOT_LOADED \(Driver Not Loaded\)\. The NVIDIA kernel driver is not loaded/);

  const cli = await runCli(['status', '--source', 'nvml', '--nvml-library', libs.get('current')!], { FAKE_NVML_STATE: fake.path });
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /nvmlInit failed with DRIVER_NOT_LOADED/);
});

test('nvmlInit hangs → "no GPU" after the init timeout, saying the driver is not answering; the host is never blocked', async () => {
  await fakeState({ ...rtx3070(), initDelayMs: 2500 });
  const lag = new EventLoopLag(20);
  const h = watchNvml('current', { initTimeoutMs: 400 });
  await h.until('the status to be "none"', () => h.watcher.status.state === 'none');
  const late = lag.stop().wallMs - 20;
  assert.equal(h.view().text, '$(chip) no GPU');
  assert.match(h.view().tooltip, /nvmlInit did not return within 400 ms: the driver is not answering/);
  // A host blocked by the call would pause for all of its 2.5 s; a loaded machine pauses a free one far less.
  assert.ok(late < 1250, `a 20 ms timer ran ${Math.round(late)} ms late while nvmlInit slept 2.5 s`);
});

test('GPU lost mid-session → that GPU shows GPU_IS_LOST with what to do, no level change or notification; read again when it returns', async () => {
  const second = { name: 'NVIDIA GeForce RTX 3060', uuid: 'GPU-second', total: 12 * GiB, used: 10_900 * MiB };
  const fake = await fakeState({ devices: [rtx3070().devices[0]!, second] });
  const h = watchNvml('current');
  await h.until('both GPUs with memory', () => h.watcher.latest?.sample.devices[1]?.memory != null);
  assert.equal(h.view().text, '$(warning) 10.6/12.0 GiB', 'the GPU at WARNING (GPU 1) is shown');
  const notified = h.notifications.length;
  const changed = h.transitions.length;

  await fake.write({ devices: [rtx3070().devices[0]!, { ...second, rc: 15 }] });
  await h.until('GPU 1 lost', () => h.watcher.latest?.sample.devices[1]?.error?.code === 'GPU_IS_LOST');
  const lost = h.watcher.latest!.sample.devices[1]!;
  assert.equal(lost.memory, null);
  assert.match(lost.error!.message, /GPU is lost\. The GPU fell off the bus or stopped answering; it usually needs a reset or a reboot\./);
  assert.equal(h.watcher.latest!.sample.devices[0]!.memory?.used, 1464 * MiB, 'the other GPU goes on');
  assert.match(h.view().tooltip, /GPU 1 · NVIDIA GeForce RTX 3060\*\* — error GPU\\?_IS\\?_LOST/);
  assert.equal(h.notifications.length, notified, 'no notification');
  assert.equal(h.transitions.length, changed, 'no level change');
  assert.equal(h.watcher.latest!.levels[1], 'warning', 'the level stays where it was');

  await fake.write({ devices: [rtx3070().devices[0]!, second] });
  await h.until('GPU 1 back', () => h.watcher.latest?.sample.devices[1]?.memory?.used === 10_900 * MiB);
  assert.equal(h.watcher.latest!.sample.devices[1]!.error, null);
});

test('no permission for a GPU → that GPU shows NO_PERMISSION with what to do; the others go on', async () => {
  const fake = await fakeState({
    devices: [
      { ...rtx3070().devices[0]!, handleRc: 4 },
      { ...rtx3070().devices[0]!, uuid: 'GPU-other', used: 2048 * MiB },
    ],
  });
  const h = watchNvml('current');
  await h.until('a sample', () => h.samples.length > 0);
  const [denied, other] = h.watcher.latest!.sample.devices;
  assert.equal(denied?.error?.code, 'NO_PERMISSION');
  assert.match(denied!.error!.message, /The user lacks permission for this NVML query/);
  assert.equal(other?.memory?.used, 2048 * MiB);

  const cli = await runCli(['status', '--source', 'nvml', '--nvml-library', libs.get('current')!], { FAKE_NVML_STATE: fake.path });
  assert.equal(cli.code, 0);
  assert.match(cli.stdout, /^GPU 0 {2}unknown {2}ERROR NO_PERMISSION: device handle: Insufficient Permissions\. The user lacks permission/m);
  assert.match(cli.stdout, /^GPU 1 {2}NVIDIA GeForce RTX 3070 {2}2048 MiB \/ 8192 MiB/m);
});

test('memory info not supported → "memory not supported", not a red error; the CLI\'s JSON carries the error', async () => {
  const fake = await fakeState(rtx3070({ unsupported: ['memory'] }));
  const h = watchNvml('current');
  await h.until('a sample', () => h.samples.length > 0);
  const v = h.view();
  assert.equal(v.text, '$(circle-slash) GPU 0 memory not supported');
  assert.equal(v.background, null);
  assert.match(v.tooltip, /memory: not supported — this GPU or driver does not report memory usage through NVML \(Not Supported\)/);

  const cli = await runCli(['status', '--json', '--source', 'nvml', '--nvml-library', libs.get('current')!], { FAKE_NVML_STATE: fake.path });
  assert.equal(cli.code, 0);
  const json = JSON.parse(cli.stdout) as { devices: Array<{ memory: unknown; level: unknown; error: { code: string; message: string } | null }> };
  assert.equal(json.devices[0]?.memory, null);
  assert.equal(json.devices[0]?.level, null);
  assert.equal(json.devices[0]?.error?.code, 'NOT_SUPPORTED');
  assert.match(json.devices[0]?.error?.message ?? '', /^memory: not supported/);
});

test('old driver (v1 and v2 entry points only) → memory and processes read through the older calls', async () => {
  const fake = await fakeState(rtx3070({ used: 5000 * MiB, reserved: 200 * MiB }));
  const counter = await fakeNvmlCallCounter();
  counter.reset();
  const cli = await runCli(['status', '--json', '--source', 'nvml', '--nvml-library', libs.get('oldest')!], { FAKE_NVML_STATE: fake.path });
  assert.equal(cli.code, 0, cli.stderr);
  const d = (
    JSON.parse(cli.stdout) as { devices: Array<{ memory: { used: number; reserved: number | null }; processes: Array<{ pid: number; usedBytes: number }> }> }
  ).devices[0]!;
  // v1 memory counts reserved memory as used, and cannot tell reserved apart.
  assert.deepEqual([d.memory.used, d.memory.reserved], [5200 * MiB, null]);
  assert.deepEqual(
    d.processes.map((p) => [p.pid, p.usedBytes]),
    [
      [1187, 1140 * MiB],
      [2290, 324 * MiB],
    ],
  );

  await fake.write(rtx3070());
  const h = watchNvml('no-v3');
  await h.until('a sample', () => h.samples.length > 0);
  assert.match(h.view().text, /^\$\(chip\) 1\.4\/8\.0 GiB$/);
  assert.match(h.view().tooltip, /Xorg \(PID 1187\) \| 1140 MiB/);
});

test('535 driver writes 32-byte process entries → read with the right stride, every PID and figure exact', async () => {
  const processes = [1, 2, 3].map((i) => ({ pid: 5000 + i, used: i * 512 * MiB, name: `/opt/server-${i}` }));
  const fake = await fakeState({ ...rtx3070({ processes }), procStride: 32, driver: '535.54.03' });
  const cli = await runCli(['status', '--source', 'nvml', '--nvml-library', libs.get('current')!], { FAKE_NVML_STATE: fake.path });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^ {4}1536 MiB {2}server-3 \(PID 5003\)\n {4}1024 MiB {2}server-2 \(PID 5002\)\n {5}512 MiB {2}server-1 \(PID 5001\)\n/m);
});

test('process count grows between the count query and the fetch → retried, every process listed', async () => {
  const fake = await fakeState({ ...rtx3070({ processes: [{ pid: 4242, kind: 'compute', used: 2838 * MiB, name: '/usr/local/bin/ollama' }] }), procGrow: 12 });
  const cli = await runCli(['status', '--json', '--source', 'nvml', '--nvml-library', libs.get('current')!], { FAKE_NVML_STATE: fake.path });
  assert.equal(cli.code, 0, cli.stderr);
  const pids = (JSON.parse(cli.stdout) as { devices: Array<{ processes: Array<{ pid: number }> }> }).devices[0]!.processes.map((p) => p.pid);
  assert.equal(pids.length, 1 + 12);
  assert.ok(pids.includes(4242));
  for (let i = 0; i < 12; i++) assert.ok(pids.includes(90_000 + i), `PID ${90_000 + i} listed`);
});

test('process memory "not available" (N/A) → shown as N/A, never a number', async () => {
  const fake = await fakeState(rtx3070({ processes: [{ pid: 3131, used: 'na', name: '/usr/bin/llama-server' }] }));
  const h = watchNvml('current');
  await h.until('a sample', () => h.samples.length > 0);
  assert.match(h.view().tooltip, /llama-server \(PID 3131\) \| N\/A \|/);
  const cli = await runCli(['status', '--json', '--source', 'nvml', '--nvml-library', libs.get('current')!], { FAKE_NVML_STATE: fake.path });
  const p = (JSON.parse(cli.stdout) as { devices: Array<{ processes: Array<{ pid: number; usedBytes: number | null }> }> }).devices[0]!.processes[0]!;
  assert.deepEqual(p, { pid: 3131, name: '/usr/bin/llama-server', usedBytes: null });
});

test('an NVML call hangs for seconds → the host keeps running, the GPU shows "not answering since …", sampling resumes when the call returns', async () => {
  const fake = await fakeState(rtx3070());
  const h = watchNvml('current', { sampleTimeoutMs: 300, replaceStuckSourceAfterMs: 60_000 });
  await h.until('a first reading', hasMemory(h));
  const before = h.transitions.length;

  const lag = new EventLoopLag(20);
  const hungAt = Date.now();
  await fake.write({ ...rtx3070(), hangCall: 'nvmlDeviceGetMemoryInfo_v2', hangMs: 2500 });
  await h.until('"not answering"', () => /not answering since/.test(h.view().text));
  const v = h.view();
  const shown = /^\$\(watch\) GPU 0 not answering since (\d\d:\d\d:\d\d)$/.exec(v.text)?.[1];
  assert.ok(shown, v.text);
  assert.ok([hhmmss(hungAt - 1000), hhmmss(hungAt), hhmmss(hungAt + 1000)].includes(shown), `"since ${shown}" is when the call started (${hhmmss(hungAt)})`);
  assert.equal(v.background, 'statusBarItem.warningBackground');
  assert.match(v.tooltip, /not answering since \d\d:\d\d:\d\d: an NVML sample has not returned for \d+ s/);

  // The driver answers again once the sleeping call returns (and the state no longer hangs).
  await fake.write(rtx3070({ used: 1600 * MiB }));
  await h.until('a reading after the hang', () => gpu0(h)?.memory?.used === 1600 * MiB, 8000);
  const late = lag.stop().wallMs - 20;
  const recoveredAfter = Date.now() - hungAt;
  assert.ok(recoveredAfter >= 2000, `recovered after ${recoveredAfter} ms: when the 2.5 s call returned, not before`);
  // A host blocked by the call would pause for all of its 2.5 s; a loaded machine pauses a free one far less.
  assert.ok(late < 1250, `a 20 ms timer ran ${Math.round(late)} ms late while a driver call slept 2.5 s`);
  assert.equal(h.view().text, '$(chip) 1.6/8.0 GiB');
  assert.equal(h.transitions.length, before, 'no level change from the hang');

  // `vram-guard watch` says the same, and reads the GPU again once the call returns.
  const hanging = await FakeNvmlState.create({ ...rtx3070(), hangCall: 'nvmlDeviceGetMemoryInfo_v2', hangMs: 4000 });
  let released = false;
  const cli = await runCli(
    ['watch', '--source', 'nvml', '--nvml-library', libs.get('current')!, '--fixed-rate', '--interval', '200'],
    { FAKE_NVML_STATE: hanging.path },
    {
      timeoutMs: 20_000,
      interruptWhen: (out) => {
        if (!released && /GPU 0 NOT ANSWERING SINCE \d\d:\d\d:\d\d/.test(out)) {
          released = true;
          void hanging.write(rtx3070({ used: 1700 * MiB }));
        }
        return /GPU 0 1700 MiB\/8192 MiB/.test(out);
      },
    },
  );
  assert.match(cli.stdout, /GPU 0 NOT ANSWERING SINCE \d\d:\d\d:\d\d\n[\s\S]*GPU 0 1700 MiB\/8192 MiB 20\.8% OK/, cli.stdout + cli.stderr);
});

test('an NVML call never returns → the worker is replaced, and the GPU is read again without waiting for the call', async () => {
  const fake = await fakeState(rtx3070());
  const h = watchNvml('current', { sampleTimeoutMs: 300, replaceStuckSourceAfterMs: 1000 });
  await h.until('a first reading', hasMemory(h));
  const hungAt = Date.now();
  await fake.write({ ...rtx3070(), hangCall: 'nvmlDeviceGetMemoryInfo_v2', hangMs: 7000 });
  await h.until('"not answering"', () => /not answering since/.test(h.view().text));
  await fake.write(rtx3070({ used: 2000 * MiB }));
  await h.until('a reading from a new worker', () => gpu0(h)?.memory?.used === 2000 * MiB, 6000);
  const after = Date.now() - hungAt;
  assert.ok(after < 6000, `read again after ${after} ms, while the hung call sleeps 7 s`);
  assert.ok(
    h.logs.some((l) => /has not answered for \d+ s: replacing the source/.test(l)),
    h.logs.join('\n'),
  );
  assert.equal(h.view().text, '$(chip) 2.0/8.0 GiB');
});

test('implausible memory figures (2^64−1, used above total, total 0) → "implausible reading" with the figure; no level, no notification, no fallback step', async () => {
  const fake = await fakeState(rtx3070());
  const h = watchNvml('current');
  const ran: string[] = [];
  const executor: FallbackExecutor = {
    plan: async (step) => ({
      ok: true,
      target: 'llama',
      description: step.label,
      run: async () => {
        ran.push(step.label);
        return 'done';
      },
    }),
  };
  const { steps } = parseSteps([{ action: 'stopServer', target: 'llama', trigger: 'warning', mode: 'auto' }], 'test');
  const chain = new FallbackChain({
    steps: () => steps,
    mode: () => 'auto',
    executor,
    readUsed: async () => null,
    confirm: async () => true,
    settleTimeoutMs: 0,
    cooldownMs: 600_000,
  });
  h.watcher.on('sample', (w) => chain.onSample(w));
  await h.until('a first reading', hasMemory(h));

  const shows = async (what: string, state: FakeState, figure: RegExp) => {
    await fake.write(state);
    await h.until(what, () => figure.test(h.view().tooltip));
    assert.equal(h.view().text, '$(error) GPU 0 implausible reading');
    assert.equal(gpu0(h)?.memory, null);
  };
  await shows('used = 2^64−1', rtx3070({ usedU64: NVML_U64_NOT_AVAILABLE }), /used = 18446744073709551615 B \(0xFFFFFFFFFFFFFFFF, NVML's "not available"\)/);
  await shows('used above total', rtx3070({ used: 9 * GiB }), /used 9663676416 B is more than total 8589934592 B/);
  await shows('total 0', rtx3070({ total: 0, used: 0, free: 0 }), /total = 0 B/);
  await shows('free = 2^64−1', rtx3070({ free: NVML_U64_NOT_AVAILABLE }), /free = 18446744073709551615 B/);
  await chain.idle();
  assert.equal(h.transitions.length, 0, 'no level change');
  assert.equal(h.notifications.length, 0, 'no notification');
  assert.equal(ran.length, 0, 'no fallback step');

  // The same chain and notifications do act on a real reading above WARNING.
  await fake.write(rtx3070({ used: 7000 * MiB }));
  await h.until('a real reading above WARNING', () => gpu0(h)?.memory?.used === 7000 * MiB);
  await chain.idle();
  assert.deepEqual(
    h.transitions.map((t) => t.to),
    ['warning'],
  );
  assert.equal(h.notifications.length, 1);
  assert.equal(ran.length, 1);
});
