/**
 * `vram-guard run` through the built dist/cli.cjs, with real child processes against the fake NVML:
 * the gate before the command (no room: it never runs), --wait, the reservation other gates see
 * until NVML shows the server, output passed through byte for byte, exit status and signals passed
 * back, the need estimated from llama-server's own arguments, and a cascade of CUDA errors.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliPath, privateRuntimeDir, runCli } from '../../helpers/cli-run.ts';
import { buildFakeNvml, desktopRtx3070, FakeNvmlState, GiB, laptopA1000AtCritical, MiB, repoRoot, type FakeState } from '../../helpers/fake-nvml.ts';
import { LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';
import { buildGpuProcess } from '../../helpers/gpu-process.ts';

const execFileAsync = promisify(execFile);
let lib: string;
let dir: string;
before(async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-run-test-'));
});

/** A Node script as the command: `node SCRIPT ARGS`. */
async function script(name: string, body: string): Promise<string> {
  const path = join(dir, `${name}.cjs`);
  await writeFile(path, body);
  return path;
}

async function nvml(state: FakeState): Promise<{ fake: FakeNvmlState; env: NodeJS.ProcessEnv }> {
  const fake = await FakeNvmlState.create(state);
  return { fake, env: { FAKE_NVML_STATE: fake.path } };
}

/** Runs the CLI and hands its process to `during` (which resolves when the test is done with it). */
function runLive(
  args: string[],
  env: NodeJS.ProcessEnv,
  during: (p: { stdout: () => string; stderr: () => string; pid: number; until: (f: () => boolean) => Promise<void> }) => Promise<void>,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, XDG_RUNTIME_DIR: privateRuntimeDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    const waiters: (() => void)[] = [];
    const poke = () => {
      for (const w of waiters.splice(0)) w();
    };
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      poke();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      poke();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const until = async (f: () => boolean) => {
      while (!f()) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`run ended first: ${err}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    };
    let ended = false;
    child.on('close', (code, signal) => {
      ended = true;
      clearTimeout(killer);
      poke();
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
    void during({ stdout: () => Buffer.concat(out).toString(), stderr: () => err, pid: child.pid!, until }).catch((e) => {
      if (!ended) child.kill('SIGKILL');
      reject(e);
    });
  });
}

describe('vram-guard run', () => {
  it('runs the command when it fits: output byte for byte, and its exit status', async () => {
    const { env } = await nvml(desktopRtx3070());
    const child = await script(
      'bytes',
      "process.stdout.write(Buffer.from([0x68, 0x69, 0x0a, 0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d])); process.stderr.write('to stderr\\n'); process.exitCode = 7;",
    );
    const r = await runLive(['run', '--need', '2GiB', '--nvml-library', lib, '--', process.execPath, child], env, async () => {});
    assert.equal(r.code, 7, r.stderr);
    assert.deepEqual([...r.stdout], [0x68, 0x69, 0x0a, 0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d]);
    assert.match(r.stderr, /to stderr\n/);
    assert.match(r.stderr, /^vram-guard run: \d+ MiB free ≥ 2048 MiB needed \+ 1024 MiB margin/m);
  });

  it('no room: the command never runs, exit 1 with the reason', async () => {
    const { env } = await nvml(laptopA1000AtCritical);
    const marker = join(dir, 'ran-although-no-room');
    const child = await script('marker', `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');`);
    const r = await runCli(['run', '--need', '2GiB', '--nvml-library', lib, '--', process.execPath, child], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /vram-guard run: "node" was not started\. .*2048 MiB/s);
    assert.equal(existsSync(marker), false);
  });

  it('--wait waits for room, then runs the command', async () => {
    const { fake, env } = await nvml(laptopA1000AtCritical);
    const child = await script('hello', "console.log('server up');");
    const r = await runLive(['run', '--need', '2GiB', '--wait', '2m', '--nvml-library', lib, '--', process.execPath, child], env, async (p) => {
      await p.until(() => p.stderr().includes('no room yet; waiting up to'));
      assert.equal(p.stdout(), '');
      // The speech daemon stops: the card is free.
      await fake.write({ ...laptopA1000AtCritical, devices: [{ ...laptopA1000AtCritical.devices[0]!, used: 144 * MiB, processes: [] }] });
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'server up\n');
  });

  it('--wait gives up after its time, and the command never ran', async () => {
    const { env } = await nvml(laptopA1000AtCritical);
    const marker = join(dir, 'ran-after-wait');
    const child = await script('marker2', `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');`);
    const r = await runCli(['run', '--need', '2GiB', '--wait', '1500ms', '--nvml-library', lib, '--', process.execPath, child], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\(waited 1\.5 s for room\)/);
    assert.equal(existsSync(marker), false);
  });

  it('Ctrl-C reaches the command once, and run exits as it did (128 + signal)', async () => {
    const { env } = await nvml(desktopRtx3070());
    const child = await script(
      'sigint',
      "let n = 0; process.on('SIGINT', () => { n++; console.log('child got SIGINT ' + n); setTimeout(() => { process.removeAllListeners('SIGINT'); process.kill(process.pid, 'SIGINT'); }, 200); }); console.log('ready'); setInterval(() => {}, 1000);",
    );
    const r = await runLive(['run', '--need', '1GiB', '--nvml-library', lib, '--', process.execPath, child], env, async (p) => {
      await p.until(() => p.stdout().includes('ready'));
      process.kill(p.pid, 'SIGINT');
    });
    assert.equal(r.stdout.toString(), 'ready\nchild got SIGINT 1\n');
    assert.equal(r.code, 130);
  });

  it('at a terminal, Ctrl-C reaches the command once (from the terminal, the command in its foreground), and run exits 130', async () => {
    const { env } = await nvml(desktopRtx3070());
    const drive = join(dir, 'pty_drive');
    await execFileAsync('gcc', ['-O2', '-o', drive, join(repoRoot, 'test', 'fixtures', 'pty', 'pty_drive.c'), '-lutil']);
    const child = await script(
      'tty-sigint',
      "let n = 0; process.on('SIGINT', () => { n++; console.log('child got SIGINT ' + n); setTimeout(() => { process.removeAllListeners('SIGINT'); process.kill(process.pid, 'SIGINT'); }, 300); }); console.log('ready at a terminal: ' + process.stdin.isTTY); setInterval(() => {}, 1000);",
    );
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(drive, ['ready at', process.execPath, cliPath, 'run', '--need', '1GiB', '--nvml-library', lib, '--', process.execPath, child], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, XDG_RUNTIME_DIR: privateRuntimeDir, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('close', (code) => resolve({ code, out }));
    });
    assert.match(r.out, /ready at a terminal: true/);
    assert.equal((r.out.match(/child got SIGINT/g) ?? []).length, 1, r.out);
    assert.equal(r.code, 130, r.out);
  });

  it('SIGTERM to run ends the command with it: exit 143', async () => {
    const { env } = await nvml(desktopRtx3070());
    const child = await script('sigterm', "console.log('ready'); setInterval(() => {}, 1000);");
    const r = await runLive(['run', '--need', '1GiB', '--nvml-library', lib, '--', process.execPath, child], env, async (p) => {
      await p.until(() => p.stdout().includes('ready'));
      process.kill(p.pid, 'SIGTERM');
    });
    assert.equal(r.code, 143);
  });

  it('reserves the need until the server shows in NVML, so another gate counts it', async () => {
    const { fake, env } = await nvml(desktopRtx3070());
    const child = await script('hold', "console.log('loading'); setInterval(() => {}, 1000);");
    const preflightReserved = async () => {
      const r = await runCli(['preflight', '--need', '1GiB', '--json', '--nvml-library', lib], env);
      return JSON.parse(r.stdout).reserved.by as { owner: string; bytes: number; serverPid: number | null }[];
    };
    let serverPid = 0;
    const r = await runLive(['run', '--need', '3GiB', '--nvml-library', lib, '--', process.execPath, child], env, async (p) => {
      await p.until(() => p.stdout().includes('loading'));
      const reserved = await preflightReserved();
      assert.deepEqual(
        reserved.map((x) => [x.owner, x.bytes]),
        [['node', 3 * GiB]],
      );
      serverPid = reserved[0]!.serverPid!;
      assert.ok(serverPid > 0);
      // The server's memory shows in NVML: the reservation goes (run reads the GPU once a second).
      const state = desktopRtx3070();
      const device = state.devices[0]!;
      await fake.write({
        ...state,
        devices: [{ ...device, used: device.used! + 3 * GiB, processes: [...device.processes!, { pid: serverPid, used: 3 * GiB, name: 'node' }] }],
      });
      for (let i = 0; i < 100 && (await preflightReserved()).length; i++) await new Promise((res) => setTimeout(res, 100));
      assert.deepEqual(await preflightReserved(), []);
      process.kill(p.pid, 'SIGTERM');
    });
    assert.equal(r.code, 143);
  });

  it("with llama-server's arguments after --, the need comes from the estimate of its model", async () => {
    const model = await writeGguf('llama-3.2-3b-instruct-q4_k_m', LLAMA_32_3B, { sparse: true });
    const server = join(dir, 'llama-server');
    await copyFile(await buildGpuProcess(), server);
    const { env } = await nvml(laptopA1000AtCritical);
    const r = await runCli(['run', '--nvml-library', lib, '--', server, '-m', model, '-c', '8192', '--port', '0'], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /"llama-server" was not started/);
    assert.match(r.stderr, /Estimated need: .*llama-3\.2-3b-instruct-q4_k_m\.gguf/);
    // The same need `vram-guard preflight --model … --args …` finds for these arguments.
    const p = await runCli(['preflight', '--model', model, '--args', '-c 8192 --port 0', '--json', '--nvml-library', lib], env);
    const needMiB = Math.round(JSON.parse(p.stdout).need.bytes / MiB);
    assert.ok(r.stderr.includes(`${needMiB} MiB needed`), `${needMiB} MiB in ${r.stderr}`);
  });

  it('a cascade of CUDA errors in the output is told on stderr, the lines themselves passed through', async () => {
    const fits = { ...laptopA1000AtCritical, devices: [{ ...laptopA1000AtCritical.devices[0]!, used: 144 * MiB, processes: [] }] };
    const { env: roomy } = await nvml(fits);
    const child = await script(
      'cascade',
      "let n = 0; const t = setInterval(() => { for (let i = 0; i < 5; i++) process.stderr.write('CUDA error: unspecified launch failure\\n'); if (++n === 30) clearInterval(t); }, 50);",
    );
    const r = await runCli(['run', '--need', '1GiB', '--cascade-seconds', '1', '--nvml-library', lib, '--', process.execPath, child], roomy);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stderr.match(/^CUDA error: unspecified launch failure$/gm) ?? []).length, 150);
    assert.match(
      r.stderr,
      /vram-guard run: cascade: \d+ CUDA error lines in .* from node \(PID \d+\); GPU 0 at \d+ % .*Last: "CUDA error: unspecified launch failure"/,
    );
  });

  it('two runs at once never both pass on the same free memory', async () => {
    // 6728 MiB free: one 3 GiB server fits with its 1 GiB margin; two do not.
    const { env } = await nvml(desktopRtx3070());
    const child = await script('hold2', "console.log('up'); setTimeout(() => {}, 3000);");
    const both = await Promise.all([0, 1].map(() => runCli(['run', '--need', '3GiB', '--nvml-library', lib, '--', process.execPath, child], env)));
    assert.deepEqual(both.map((r) => r.code).sort(), [0, 1], both.map((r) => r.stderr).join('\n'));
    const refused = both.find((r) => r.code === 1)!;
    assert.match(refused.stderr, /"node" was not started/);
    assert.match(refused.stderr, /reserved|Reserved/);
    assert.equal(refused.stdout, '');
  });

  it('preflight --reserve holds the need for the server started next: a run at the same time is refused', async () => {
    const { env } = await nvml(desktopRtx3070());
    const own = await mkdtemp(join(tmpdir(), 'vram-guard-run-reserve-'));
    const reserved = await runCli(['preflight', '--need', '3GiB', '--reserve', '2m', '--json', '--nvml-library', lib], { ...env, XDG_RUNTIME_DIR: own });
    assert.equal(reserved.code, 0, reserved.stdout);
    const marker = join(dir, 'ran-on-reserved-memory');
    const child = await script('marker3', `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');`);
    const r = await runCli(['run', '--need', '3GiB', '--nvml-library', lib, '--', process.execPath, child], { ...env, XDG_RUNTIME_DIR: own });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /3072 MiB reserved \+ 3072 MiB needed/);
    assert.equal(existsSync(marker), false);
    const usage = await runCli(['preflight', '--reserve', '2m'], env);
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /--reserve needs a need to reserve/);
  });

  it('--restart on-failure restarts a failing command after 1 s, then 2 s, until it succeeds', async () => {
    const { env } = await nvml(desktopRtx3070());
    const counter = join(dir, 'restart-count');
    const child = await script(
      'flaky',
      `const fs = require('node:fs'); const n = Number(fs.existsSync(${JSON.stringify(counter)}) ? fs.readFileSync(${JSON.stringify(counter)}, 'utf8') : 0) + 1; fs.writeFileSync(${JSON.stringify(counter)}, String(n)); console.log('attempt ' + n); process.exitCode = n < 3 ? 3 : 0;`,
    );
    const r = await runCli(['run', '--need', '1GiB', '--restart', 'on-failure', '--nvml-library', lib, '--', process.execPath, child], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'attempt 1\nattempt 2\nattempt 3\n');
    assert.match(r.stderr, /node exited with 3; restarting in 1 s \(the gate is checked again first\)\.\n/);
    assert.match(r.stderr, /node exited with 3; restarting in 2 s/);
    assert.equal((r.stderr.match(/MiB free ≥ 1024 MiB needed/g) ?? []).length, 3, 'the gate before each start');
  });

  it('vram-guard ledger shows a server run started: started by run, its restarts and how it last ended', async () => {
    const { fake, env } = await nvml(desktopRtx3070());
    const counter = join(dir, 'ledger-restart-count');
    const child = await script(
      'flaky-then-up',
      `const fs = require('node:fs'); const n = Number(fs.existsSync(${JSON.stringify(counter)}) ? fs.readFileSync(${JSON.stringify(counter)}, 'utf8') : 0) + 1; fs.writeFileSync(${JSON.stringify(counter)}, String(n)); if (n === 1) process.exit(3); console.log('pid ' + process.pid); setInterval(() => {}, 1000);`,
    );
    let runPid = 0;
    const r = await runLive(['run', '--need', '1GiB', '--restart', 'on-failure', '--nvml-library', lib, '--', process.execPath, child], env, async (p) => {
      runPid = p.pid;
      await p.until(() => /pid \d+/.test(p.stdout()));
      const serverPid = Number(/pid (\d+)/.exec(p.stdout())![1]);
      const state = desktopRtx3070();
      const device = state.devices[0]!;
      await fake.write({
        ...state,
        devices: [{ ...device, used: device.used! + GiB, processes: [...device.processes!, { pid: serverPid, used: GiB, name: 'node' }] }],
      });
      const json = await runCli(['ledger', '--json', '--nvml-library', lib], env);
      const entry = JSON.parse(json.stdout).gpus[0].other.find((o: { pid: number }) => o.pid === serverPid);
      assert.equal(entry.startedBy, 'run');
      assert.equal(entry.run.restarts, 1);
      assert.equal(entry.run.lastExit.code, 3);
      const text = await runCli(['ledger', '--nvml-library', lib], env);
      assert.match(
        text.stdout,
        new RegExp(`node \\(PID ${serverPid}\\) — .*started by vram-guard run · vram-guard run: restarted 1 time, last exit code 3 at \\d{4}-`),
      );
      process.kill(p.pid, 'SIGTERM');
    });
    assert.equal(r.code, 143);
    assert.equal(existsSync(join(privateRuntimeDir, 'vram-guard', 'runs', `${runPid}.json`)), false, 'the record goes when run ends');
  });

  it('--max-restarts stops restarting; run exits with the last failure', async () => {
    const { env } = await nvml(desktopRtx3070());
    const child = await script('fails', 'process.exitCode = 5;');
    const r = await runCli(
      ['run', '--need', '1GiB', '--restart', 'on-failure', '--max-restarts', '1', '--nvml-library', lib, '--', process.execPath, child],
      env,
    );
    assert.equal(r.code, 5);
    assert.match(r.stderr, /node exited with 5; not restarted: 1 restarts in the last hour \(--max-restarts\)\./);
  });

  it('--exclusive: a second run waits for the GPU lock, says who holds it, and runs once it is free', async () => {
    const { env } = await nvml(desktopRtx3070());
    const holder = await script('holder', "console.log('holding'); setInterval(() => {}, 1000);");
    const second = await script('second', "console.log('second ran');");
    let secondRun: Promise<{ code: number | null; stdout: Buffer; stderr: string }> | null = null;
    const first = await runLive(['run', '--need', '1GiB', '--exclusive', '--nvml-library', lib, '--', process.execPath, holder], env, async (p) => {
      await p.until(() => p.stdout().includes('holding'));
      secondRun = runLive(['run', '--need', '1GiB', '--exclusive', '--nvml-library', lib, '--', process.execPath, second], env, async (q) => {
        await q.until(() => q.stderr().includes('waiting for the GPU lock'));
        assert.equal(q.stdout(), '');
        assert.match(q.stderr(), new RegExp(`"node \\(vram-guard run, PID ${p.pid}\\)" holds it since \\d{4}-`));
        process.kill(p.pid, 'SIGTERM');
      });
      await secondRun;
    });
    assert.equal(first.code, 143);
    const r = await secondRun!;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'second ran\n');
  });

  it('without "--" it says how to call it (exit 64); a command that does not exist exits 127 with the reason', async () => {
    const usage = await runCli(['run', 'llama-server', '-m', 'x.gguf']);
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /put the command after "--"/);
    const missing = await runCli(['run', '--need', '1GiB', '--', 'llama-server-that-is-not-installed', '-m', 'x.gguf']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /"llama-server-that-is-not-installed" was not found on PATH .*; nothing was started\./);
    const notExec = join(dir, 'not-executable');
    await writeFile(notExec, 'data');
    const cannot = await runCli(['run', '--', notExec]);
    assert.equal(cannot.code, 126);
    assert.match(cannot.stderr, /is not an executable file/);
    assert.ok((await readFile(notExec, 'utf8')) === 'data');
  });
});
