/**
 * Fault matrix: a GPU driver that hangs, and leaving. Each test runs the built CLI (dist/cli.cjs) as
 * a user does, against the fake libnvidia-ml with one call that sleeps 60 s, and interrupts it the
 * way a user or a service manager does (Ctrl-C = SIGINT, SIGTERM), or closes its output pipe. The
 * fake marks each hang on a FIFO it keeps open until the process that hangs dies: its first line says
 * the call now hangs (so a test signals exactly then, never after a guessed sleep), and its end of
 * file says the NVML worker process is gone. Times are from the signal to the CLI's exit event.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { cliPath, privateRuntimeDir } from '../helpers/cli-run.ts';
import { abandonedNvmlWorkers, MAX_ABANDONED_WORKERS, openNvmlWorker } from '../../src/core/gpu/nvml-worker-source.ts';
import { buildFakeNvml, desktopRtx3070, FakeNvmlState, type FakeState } from '../helpers/fake-nvml.ts';
import { watch } from '../helpers/watch-harness.ts';

/** The bound is 1 s from Ctrl-C to the prompt; this holds on a loaded 2-core machine. */
const EXIT_BOUND_MS = 1000;
/** The driver call that hangs sleeps this long: far longer than any bound here. */
const HANG_MS = 60_000;

let lib = '';
const started: ChildProcess[] = [];

before(async () => {
  lib = await buildFakeNvml();
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run \`npm run build\` first`);
});
after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Fifo {
  path: string;
  /** The first line written to it. */
  firstLine: Promise<string>;
  /** Every process that opened it for writing has closed it, or died. */
  closed: Promise<void>;
}

/** A FIFO in `dir` with its reader (cat, so no thread of this process blocks opening it). */
async function fifo(dir: string, name: string): Promise<Fifo> {
  const path = join(dir, name);
  await promisify(execFile)('mkfifo', [path]);
  const reader = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(reader);
  let text = '';
  const firstLine = new Promise<string>((resolve) => {
    reader.stdout.setEncoding('utf8');
    reader.stdout.on('data', (d: string) => {
      text += d;
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
  });
  const closed = new Promise<void>((resolve) => reader.on('close', () => resolve()));
  return { path, firstLine, closed };
}

interface Hang {
  /** The first hang: which NVML function, in which process. */
  marked: Promise<{ fn: string; pid: number }>;
  /** Every process that hung has died (the FIFO's end of file). */
  gone: Promise<void>;
}

/** The fake's state with one call hanging 60 s, marking on a FIFO; the environment the CLI runs with. */
async function hungDriver(state: FakeState): Promise<{ env: NodeJS.ProcessEnv; hang: Hang; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-hung-'));
  const marks = await fifo(dir, 'hangs');
  const fake = await FakeNvmlState.create({ ...state, hangMark: marks.path });
  const marked = marks.firstLine.then((line) => {
    const [fn = '', pid = ''] = line.split(' ');
    return { fn, pid: Number(pid) };
  });
  return { env: { FAKE_NVML_STATE: fake.path }, hang: { marked, gone: marks.closed }, dir };
}

const hangingSample = (): FakeState => ({ ...desktopRtx3070(), hangCall: 'nvmlDeviceGetMemoryInfo_v2', hangMs: HANG_MS });
const nvmlArgs = () => ['--source', 'nvml', '--nvml-library', lib];

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when the text matches the output so far or later. */
  output: (stream: 'stdout' | 'stderr', pattern: RegExp) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts the built CLI as a user would, with a private runtime folder; its output, and when it exits. */
function startCli(args: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, XDG_RUNTIME_DIR: privateRuntimeDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  const text = { stdout: '', stderr: '' };
  const waiters: Array<{ stream: 'stdout' | 'stderr'; pattern: RegExp; resolve: () => void }> = [];
  const feed = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
    text[stream] += d.toString();
    for (const w of waiters.splice(0)) {
      if (w.stream === stream && w.pattern.test(text[stream])) w.resolve();
      else waiters.push(w);
    }
  };
  child.stdout?.on('data', feed('stdout'));
  child.stderr?.on('data', feed('stderr'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    output: (stream, pattern) =>
      new Promise((resolve, reject) => {
        if (pattern.test(text[stream])) return resolve();
        waiters.push({ stream, pattern, resolve });
        void exited.then(() => reject(new Error(`exited before ${stream} matched ${pattern}:\n${text.stdout}\n${text.stderr}`)));
      }),
    exited,
  };
}

/** Asserts `ms` is within the bound, and reports it (the run's figures, for when the machine is slow). */
function prompt(t: TestContext, ms: number, what: string): void {
  t.diagnostic(`${Math.round(ms)} ms`);
  assert.ok(ms < EXIT_BOUND_MS, `${what} (bound ${EXIT_BOUND_MS} ms)`);
}

/** Sends the signal and gives the milliseconds from it to the CLI's exit, and how it exited. */
async function signalAndTime(run: Run, signal: NodeJS.Signals): Promise<{ ms: number; code: number | null }> {
  const sent = performance.now();
  run.child.kill(signal);
  const exit = await run.exited;
  return { ms: exit.at - sent, code: exit.code };
}

test('Ctrl-C on watch while an NVML call hangs 60 s → leaves within 1 s with status 0; the stuck worker process is killed', async (t) => {
  const { env, hang } = await hungDriver(hangingSample());
  const run = startCli(['watch', ...nvmlArgs()], env);
  await run.output('stdout', /^watching NVML /m);
  const { fn, pid } = await hang.marked;
  assert.equal(fn, 'nvmlDeviceGetMemoryInfo_v2');
  assert.notEqual(pid, run.child.pid, 'the call hangs in a worker process, not in the CLI');
  const { ms, code } = await signalAndTime(run, 'SIGINT');
  assert.equal(code, 0, run.stderr());
  prompt(t, ms, `left ${Math.round(ms)} ms after Ctrl-C, while the call sleeps 60 s`);
  await hang.gone; // the worker that held the hung call is gone too (else this never resolves)
  assert.equal(run.stderr(), '');
});

test('SIGTERM on watch while nvmlInit hangs 60 s → leaves within 1 s; the worker still starting is killed', async (t) => {
  const { env, hang } = await hungDriver({ ...desktopRtx3070(), initDelayMs: HANG_MS });
  const run = startCli(['watch', ...nvmlArgs()], env);
  const { fn } = await hang.marked;
  assert.equal(fn, 'nvmlInit_v2');
  const { ms, code } = await signalAndTime(run, 'SIGTERM');
  assert.equal(code, 0, run.stderr());
  prompt(t, ms, `left ${Math.round(ms)} ms after SIGTERM, while nvmlInit sleeps 60 s`);
  await hang.gone;
  assert.equal(run.stdout(), '', 'nothing was read, nothing is claimed');
});

test('Ctrl-C on status while an NVML call hangs 60 s → leaves within 1 s with status 130', async (t) => {
  const { env, hang } = await hungDriver(hangingSample());
  const run = startCli(['status', ...nvmlArgs()], env);
  await hang.marked;
  const { ms, code } = await signalAndTime(run, 'SIGINT');
  assert.equal(code, 130);
  prompt(t, ms, `left ${Math.round(ms)} ms after Ctrl-C`);
  await hang.gone;
});

test('status while an NVML call hangs 60 s → says the driver is not answering after the 3 s sample timeout and leaves then, exit 1', async (t) => {
  const { env, hang } = await hungDriver(hangingSample());
  const run = startCli(['status', ...nvmlArgs()], env);
  await hang.marked;
  await run.output('stderr', /not answering/);
  const said = performance.now();
  const exit = await run.exited;
  assert.equal(exit.code, 1);
  assert.match(run.stderr(), /^vram-guard status: an NVML sample has not returned after 3000 ms: the driver is not answering\n$/);
  prompt(t, exit.at - said, `left ${Math.round(exit.at - said)} ms after its answer, while the call sleeps 60 s`);
  await hang.gone;
});

test('SIGTERM on preflight while an NVML call hangs 60 s → leaves within 1 s with status 143', async (t) => {
  const { env, hang } = await hungDriver(hangingSample());
  const run = startCli(['preflight', '--need', '2GiB', ...nvmlArgs()], env);
  await hang.marked;
  const { ms, code } = await signalAndTime(run, 'SIGTERM');
  assert.equal(code, 143);
  prompt(t, ms, `left ${Math.round(ms)} ms after SIGTERM`);
  await hang.gone;
});

test('Ctrl-C on exporter while an NVML call hangs 60 s → leaves within 1 s with status 0', async (t) => {
  const { env, hang, dir } = await hungDriver(hangingSample());
  const run = startCli(['exporter', '--listen', '127.0.0.1:0', '--servers-dir', dir, ...nvmlArgs()], env);
  await run.output('stdout', /^serving http:\/\/127\.0\.0\.1:\d+\/metrics/m);
  await hang.marked;
  const { ms, code } = await signalAndTime(run, 'SIGINT');
  assert.equal(code, 0, run.stderr());
  prompt(t, ms, `left ${Math.round(ms)} ms after Ctrl-C`);
  await hang.gone;
});

test('the editor closing (Watcher.stop) while nvmlInit hangs 60 s → stop resolves within 1 s; the worker still starting is killed', async (t) => {
  const { env, hang } = await hungDriver({ ...desktopRtx3070(), initDelayMs: HANG_MS });
  process.env.FAKE_NVML_STATE = env.FAKE_NVML_STATE;
  const h = watch({ probe: { preference: 'nvml', nvmlLibraryPath: lib } });
  await hang.marked;
  const t0 = performance.now();
  await h.stop();
  const ms = performance.now() - t0;
  prompt(t, ms, `stop() took ${Math.round(ms)} ms while nvmlInit sleeps 60 s`);
  assert.equal(h.samples.length, 0);
  await hang.gone;
});

test('the editor closing (Watcher.stop) while an NVML sample hangs 60 s → stop resolves within 1 s; the stuck worker is killed', async (t) => {
  const { env, hang } = await hungDriver(hangingSample());
  process.env.FAKE_NVML_STATE = env.FAKE_NVML_STATE;
  const h = watch({ probe: { preference: 'nvml', nvmlLibraryPath: lib, nvmlSampleTimeoutMs: 300 } });
  await hang.marked;
  const t0 = performance.now();
  await h.stop();
  const ms = performance.now() - t0;
  prompt(t, ms, `stop() took ${Math.round(ms)} ms while a sample sleeps 60 s`);
  await hang.gone;
});

test('NVML workers that even SIGKILL cannot end (stuck in the kernel) → at most 2 are left behind; the next open says so with their PIDs', async () => {
  const { env, hang } = await hungDriver({ ...desktopRtx3070(), initDelayMs: HANG_MS });
  process.env.FAKE_NVML_STATE = env.FAKE_NVML_STATE;
  // SIGCONT leaves a worker running, as SIGKILL does a process in uninterruptible sleep in the driver.
  const open = () => openNvmlWorker({ libraryPath: lib, initTimeoutMs: 200, abandonSignal: 'SIGCONT' });
  const reasons: string[] = [];
  for (let i = 0; i < MAX_ABANDONED_WORKERS + 2; i++) {
    const r = await open();
    assert.equal(r.ok, false);
    if (!r.ok) reasons.push(r.reason);
  }
  await hang.marked;
  const stuck = abandonedNvmlWorkers();
  assert.equal(stuck.length, 2, 'no more than two are left behind');
  assert.match(reasons[0]!, /^nvmlInit did not return within 200 ms: the driver is not answering/);
  assert.match(reasons[1]!, /^nvmlInit did not return within 200 ms/);
  const refusal = new RegExp(
    `^2 earlier NVML worker processes \\(PIDs ${stuck[0]}, ${stuck[1]}\\) are still stuck in the driver after being killed: no new one starts until one of them is gone`,
  );
  assert.match(reasons[2]!, refusal);
  assert.match(reasons[3]!, refusal);
  // Once they are gone (the call returned, or here a real SIGKILL), workers start again.
  for (const pid of stuck) process.kill(pid, 'SIGKILL');
  await hang.gone;
  process.env.FAKE_NVML_STATE = (await FakeNvmlState.create(desktopRtx3070())).path;
  while (abandonedNvmlWorkers().length > 0) await new Promise((r) => setImmediate(r));
  const again = await openNvmlWorker({ libraryPath: lib });
  assert.ok(again.ok, again.ok ? '' : again.reason);
  if (again.ok) await again.source.dispose();
});

test('a second Ctrl-C while the first stops a model server that ignores SIGTERM → leaves at once with status 130', async (t) => {
  const { env, dir } = await hungDriver(desktopRtx3070());
  // A server that ignores SIGTERM: the spike's stop would wait 60 s before its SIGKILL. It says its
  // PID on a FIFO once it runs; the test kills it at the end.
  const up = await fifo(dir, 'server-up');
  const server = join(dir, 'stubborn-server.cjs');
  await writeFile(
    server,
    `process.on('SIGTERM', () => {});\nrequire('node:fs').writeFileSync(${JSON.stringify(up.path)}, process.pid + '\\n');\nsetInterval(() => {}, 1000);\n`,
  );
  const spec = join(dir, 'spike.json');
  await writeFile(spec, JSON.stringify({ servers: [{ name: 'stubborn', server: 'command', command: [process.execPath, server] }] }));
  const run = startCli(['spike', '--spec', spec, '--out', join(dir, 'out'), '--settle', '0.05', '--stop-timeout', '60', ...nvmlArgs()], env);
  const serverPid = Number(await up.firstLine);
  try {
    run.child.kill('SIGINT');
    await run.output('stderr', /^spike: cancelling: stopping what was started/m);
    const { ms, code } = await signalAndTime(run, 'SIGINT');
    assert.equal(code, 130);
    prompt(t, ms, `left ${Math.round(ms)} ms after the second Ctrl-C`);
  } finally {
    process.kill(serverPid, 'SIGKILL');
  }
});

test('watch piped into a command that stops reading (watch | head -1) → ends quietly with status 0, no EPIPE trace', async () => {
  const fake = await FakeNvmlState.create(desktopRtx3070());
  const run = startCli(['watch', '--interval', '50', '--fixed-rate', ...nvmlArgs()], { FAKE_NVML_STATE: fake.path });
  await run.output('stdout', /GPU 0 1464 MiB\/8192 MiB/);
  run.child.stdout?.destroy(); // what head does after its first line: the pipe's reading end closes
  const exit = await run.exited;
  assert.equal(exit.code, 0);
  assert.equal(run.stderr(), '', 'nothing on stderr: no EPIPE, no stack trace');
});
