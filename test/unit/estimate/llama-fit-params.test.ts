/**
 * llama.cpp's own fit beside ours, against the real `llama-fit-params` (the CPU build `npm run
 * setup:llama` makes). Without a GPU backend it fits into the machine's memory (its "Host" device,
 * all of RAM counted free), so a fit target of nearly all of RAM makes it choose a smaller context,
 * the way it does on a GPU that is nearly full.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { CliIo } from '../../../src/cli/io.ts';
import { runPreflightCommand } from '../../../src/cli/preflight.ts';
import { askLlamaFit, findFitParams, fitParamsArgs } from '../../../src/core/estimate/llama-fit-params.ts';
import { parseLlamaServerArgs } from '../../../src/core/estimate/server-args.ts';
import { GiB, MiB, parseSize, type SizeSpec } from '../../../src/core/units.ts';
import { cliPath, privateHome, privateRuntimeDir, runCli } from '../../helpers/cli-run.ts';
import { buildFakeNvml, FakeNvmlState } from '../../helpers/fake-nvml.ts';
import { realLlama, tinyLlamaModel } from '../../helpers/real-llama-server.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';

let model: string;
let programs: { server: string; fitParams: string };
let h: ServerHarness;

before(async () => {
  programs = realLlama();
  model = await tinyLlamaModel('tiny-llama-fit', 32768);
  h = await ServerHarness.create({ devices: [baseGpu()] });
  h.askLlamaFit = true;
});
after(async () => h?.dispose());

const logOf = (name: string) => (h.logs.get(name) ?? []).join('\n');

/** The task's memory flags, as the gate's parser keeps them. */
function given(args: string[]): string[] {
  const parsed = parseLlamaServerArgs(args);
  assert.ok(parsed.ok);
  return parsed.given;
}

describe("llama.cpp's own fit (the real llama-fit-params)", () => {
  it("is found beside the task's llama-server, and answers for its model and memory settings (server-only flags left out)", async () => {
    assert.equal(await findFitParams(programs.server, '', '/'), programs.fitParams);
    const args = fitParamsArgs(model, given(['-m', model, '-c', '4096', '-np', '1', '--port', '8080', '--host', '127.0.0.1']));
    assert.deepEqual(args, ['-m', model, '-c', '4096', '-np', '1']);
    const r = await askLlamaFit(programs.fitParams, args, { env: process.env });
    assert.ok(r.ok, r.ok ? '' : r.reason);
    // What it printed, read as printed.
    const printed = (await promisify(execFile)(programs.fitParams, args)).stdout.trim().split('\n').at(-1);
    assert.equal(r.answer.flags, printed);
    assert.deepEqual(
      { c: r.answer.contextTokens, ngl: r.answer.gpuLayers, ts: r.answer.tensorSplit, ot: r.answer.overrides },
      { c: 4096, ngl: -1, ts: null, ot: null },
    );
    // The server-only flag it does not know is what the filter keeps out.
    const refused = await askLlamaFit(programs.fitParams, [...args, '--port', '8080'], { env: process.env });
    assert.equal(refused.ok, false);
    if (!refused.ok) assert.match(refused.reason, /invalid argument: --port/);
  });

  it('with little room left above its fit target it lowers the context, as it would on a nearly full GPU', async () => {
    const ramMiB = Math.floor(totalmem() / MiB);
    const r = await askLlamaFit(programs.fitParams, fitParamsArgs(model, given(['-m', model, '--fit-target', String(ramMiB - 200)])), { env: process.env });
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.ok(r.answer.contextTokens > 4096 && r.answer.contextTokens < 32768, r.answer.flags);
    assert.equal(r.answer.contextTokens % 256, 0, r.answer.flags);
  });

  it("the gate shows llama.cpp's answer beside the estimate, and passes when they agree", async () => {
    const s = await h.task('fit-agree', 'llama-server', ['-m', model, '-c', '4096'], { command: [programs.server], startTimeoutSeconds: 60 });
    const r = await s.start();
    assert.ok(r.ok, logOf('fit-agree'));
    assert.match(logOf('fit-agree'), /VRAM gate: PASS/);
    assert.match(logOf('fit-agree'), /llama\.cpp's own fit: -c 4096 -ngl -1 \(\d+ MiB by our estimate; ours: -c 4096, \d+ MiB\)/);
    // The same trusted gate asked the task's llama-server its build, and the estimate says which it sized for.
    assert.match(logOf('fit-agree'), /[Ss]ized for llama\.cpp 0\.5\.0\S* \([0-9a-f]+\), from llama-server --version \(v0\.5\.0's graph\)/);
    const check = s.lastGate!.checks.find((c) => c.id === 'preflight.llamaFit');
    assert.equal(check?.status, 'pass');
    await s.stop('test');
  });

  it('a task with --fit off is not asked: its server fits nothing', async () => {
    const s = await h.task('fit-off', 'llama-server', ['-m', model, '-c', '4096', '--fit', 'off'], { command: [programs.server], startTimeoutSeconds: 60 });
    const r = await s.start();
    assert.ok(r.ok, logOf('fit-off'));
    assert.equal(
      s.lastGate!.checks.find((c) => c.id === 'preflight.llamaFit'),
      undefined,
    );
    assert.doesNotMatch(logOf('fit-off'), /llama\.cpp's own fit/);
    await s.stop('test');
  });

  it('the gate warns when llama.cpp fits something else by more than the margin', async () => {
    // NVML says 1.5 GiB are free: ours lowers the context to fit under the 1 GiB fit target. This
    // llama-fit-params fits into the machine's RAM instead, and keeps the model's full 32768.
    const margin = h.margin;
    h.margin = parseSize('64MiB') as SizeSpec;
    await h.fake.write({
      devices: [baseGpu({ used: 8 * GiB - 1536 * MiB, processes: [{ pid: 1187, kind: 'graphics', used: 8 * GiB - 1536 * MiB, name: 'Xorg' }] })],
    });
    try {
      const s = await h.task('fit-disagree', 'llama-server', ['-m', model], { command: [programs.server], startTimeoutSeconds: 60 });
      const r = await s.start();
      const log = logOf('fit-disagree');
      assert.ok(r.ok, log);
      assert.match(log, /VRAM gate: WARN/);
      assert.match(
        log,
        /llama\.cpp's own fit: -c 32768 -ngl -1 \(\d+ MiB by our estimate; ours: -c \d+, \d+ MiB\): the two differ by \d+ MiB, more than the 64 MiB margin\./,
      );
      await s.stop('test');
    } finally {
      h.margin = margin;
      await h.fake.write({ devices: [baseGpu()] });
    }
  });

  it('vram-guard preflight --model shows the answer of the llama-fit-params beside llama-server on PATH', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'vram-guard-fit-cli-'));
    let stdout = '';
    const io: CliIo = {
      stdout: (t) => {
        stdout += t;
      },
      stderr: () => {},
      env: {
        PATH: dirname(programs.server),
        FAKE_NVML_STATE: h.fake.path,
        VRAM_GUARD_NVML_LIBRARY: await buildFakeNvml(),
        VRAM_GUARD_STATE_DIR: stateDir,
        XDG_RUNTIME_DIR: privateRuntimeDir,
      },
      interrupted: new Promise(() => {}),
    };
    try {
      const code = await runPreflightCommand(['--model', model, '--args', '-c 4096 -np 1'], io);
      assert.equal(code, 0, stdout);
      assert.match(
        stdout,
        /\| llama\.cpp's own fit \| ✅ pass \| llama\.cpp's own fit: -c 4096 -ngl -1 \(\d+ MiB by our estimate; ours: -c 4096, \d+ MiB\)\. \|/,
      );
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  /**
   * `vram-guard run -- llama-server …` through the built CLI, the real llama-server started by it on
   * a free port; once the server listens and its task loop answers (`/slots`: a SIGTERM before the
   * loop starts is lost in this build), run gets SIGTERM and passes it on. Gives what run printed.
   */
  async function runServer(nvml: FakeNvmlState, runFlags: string[], serverArgs: string[]): Promise<{ code: number | null; stderr: string }> {
    const stateDir = await mkdtemp(join(tmpdir(), 'vram-guard-fit-run-'));
    const args = ['run', '--nvml-library', await buildFakeNvml(), ...runFlags, '--', programs.server, '-m', model, ...serverArgs];
    const child = spawn(process.execPath, [cliPath, ...args, '-t', '1', '--host', '127.0.0.1', '--port', '0', '--no-webui', '--slots'], {
      env: { PATH: process.env.PATH, HOME: privateHome, XDG_RUNTIME_DIR: privateRuntimeDir, FAKE_NVML_STATE: nvml.path, VRAM_GUARD_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stopping = false;
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const listening = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (stopping || !listening) return;
      stopping = true;
      fetch(`${listening[1]}/slots`)
        .then((r) => r.arrayBuffer())
        .catch(() => {})
        .finally(() => child.kill('SIGTERM'));
    });
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (c) => resolve(c));
      });
      assert.ok(stopping, `run ended before llama-server listened:\n${stderr.slice(-3000)}`);
      return { code, stderr };
    } finally {
      clearTimeout(killer);
      await rm(stateDir, { recursive: true, force: true });
    }
  }

  it('vram-guard run -- llama-server shows the answer of the llama-fit-params beside that llama-server before it starts', { timeout: 120_000 }, async () => {
    const nvml = await FakeNvmlState.create({ devices: [baseGpu()] });
    const r = await runServer(nvml, [], ['-c', '4096', '-np', '1']);
    assert.match(r.stderr, /vram-guard run: llama\.cpp's own fit: -c 4096 -ngl -1 \(\d+ MiB by our estimate; ours: -c 4096, \d+ MiB\)\.\n/);
    // It is told before the server's own first line.
    assert.ok(r.stderr.indexOf("llama.cpp's own fit") < r.stderr.indexOf('listening on'), r.stderr);
    assert.doesNotMatch(r.stderr, /differ by/);
  });

  it('vram-guard run -- llama-server warns when llama.cpp fits something else by more than the margin, and still starts it', { timeout: 120_000 }, async () => {
    // As in the gate's test: NVML says 1.5 GiB are free, so ours lowers the context; this build fits into RAM and keeps 32768.
    const nvml = await FakeNvmlState.create({
      devices: [baseGpu({ used: 8 * GiB - 1536 * MiB, processes: [{ pid: 1187, kind: 'graphics', used: 8 * GiB - 1536 * MiB, name: 'Xorg' }] })],
    });
    const r = await runServer(nvml, ['--margin', '64MiB'], []);
    assert.match(
      r.stderr,
      /\nvram-guard run: llama\.cpp's own fit: -c 32768 -ngl -1 \(\d+ MiB by our estimate; ours: -c \d+, \d+ MiB\): the two differ by \d+ MiB, more than the 64 MiB margin\.\n/,
    );
    // The warning's advice is in the gate's summary line, the first run prints.
    assert.match(r.stderr.split('\n')[0] ?? '', /more than the 64 MiB margin\. llama\.cpp sizes for the devices its build sees/);
    assert.match(r.stderr, /listening on/, 'the warning does not stop the start');
  });

  it('vram-guard run --model with another command asks the llama-fit-params beside llama-server on PATH; a refused start shows it too', async () => {
    const nvml = await FakeNvmlState.create({
      devices: [baseGpu({ used: 8 * GiB - 256 * MiB, processes: [{ pid: 1187, kind: 'graphics', used: 8 * GiB - 256 * MiB, name: 'Xorg' }] })],
    });
    const stateDir = await mkdtemp(join(tmpdir(), 'vram-guard-fit-run-'));
    try {
      const env = { PATH: `${dirname(programs.server)}:${process.env.PATH}`, FAKE_NVML_STATE: nvml.path, VRAM_GUARD_STATE_DIR: stateDir };
      const r = await runCli(['run', '--nvml-library', await buildFakeNvml(), '--model', model, '--args', '-c 4096 -np 1', '--', 'true'], env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /"true" was not started/);
      assert.match(r.stderr, /\nvram-guard run: llama\.cpp's own fit: -c 4096 -ngl -1 \(\d+ MiB by our estimate; ours: -c 4096, \d+ MiB\)/);
      // --wait looks once a second: llama.cpp is asked at the first look only, and its line told once.
      const waited = await runCli(
        ['run', '--nvml-library', await buildFakeNvml(), '--wait', '2s', '--model', model, '--args', '-c 4096 -np 1', '--', 'true'],
        env,
      );
      assert.equal(waited.code, 1, waited.stderr);
      assert.match(waited.stderr, /no room yet; waiting up to [\d.]+ s/);
      assert.equal(waited.stderr.match(/llama\.cpp's own fit: -c 4096 -ngl -1/g)?.length, 1, waited.stderr);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
