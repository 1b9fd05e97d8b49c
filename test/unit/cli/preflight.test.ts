/**
 * `vram-guard preflight` against the fake NVML library: through `runPreflightCommand` with a
 * captured io, and end to end through the built CLI once `src/cli.ts` routes the command.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { CliIo } from '../../../src/cli/io.ts';
import { runPreflightCommand } from '../../../src/cli/preflight.ts';
import { buildFakeNvml, desktopRtx3070, FakeNvmlState, GiB, MiB, type FakeState } from '../../helpers/fake-nvml.ts';
import { GEMMA2_2B, LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';
import { cliPath as cli, privateRuntimeDir, runCli } from '../../helpers/cli-run.ts';

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

async function preflight(args: string[], env: NodeJS.ProcessEnv): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env,
    interrupted: new Promise(() => {}),
  };
  const code = await runPreflightCommand(args, io);
  return { code, stdout, stderr };
}

const rtx3070 = desktopRtx3070;

const cardThresholds = ['--thresholds', 'warning=6144MiB,critical=7168MiB,emergency=7782MiB'];

describe('vram-guard preflight (runPreflightCommand)', () => {
  let lib: string;
  let env: (state: FakeState) => Promise<NodeJS.ProcessEnv>;
  before(async () => {
    lib = await buildFakeNvml();
    env = async (state) => {
      const fake = await FakeNvmlState.create(state);
      // The fake library reads its state file from this process's environment.
      process.env.FAKE_NVML_STATE = fake.path;
      return { FAKE_NVML_STATE: fake.path, VRAM_GUARD_NVML_LIBRARY: lib, XDG_RUNTIME_DIR: privateRuntimeDir };
    };
  });

  it('passes and exits 0 when the need fits with the margin', async () => {
    const r = await preflight(['--need', '2838MiB', ...cardThresholds], await env(rtx3070()));
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^# VRAM Guard pre-flight check\n\n\*\*PASS: there is room for it\.\*\*/);
    assert.match(r.stdout, /\| Free VRAM for the need \| ✅ pass \| 6728 MiB free ≥ 2838 MiB needed \+ 1024 MiB margin \(2866 MiB to spare\)\. \|/);
  });

  it('fails and exits 1 for 6144 MiB with 500 MiB free', async () => {
    const r = await preflight(['--need', '6144MiB'], await env(rtx3070({ used: 8 * GiB - 500 * MiB })));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\*\*FAIL: do not start it as it is\.\*\*/);
    assert.match(r.stdout, /\| Free VRAM for the need \| ❌ fail \| 500 MiB free < 6144 MiB needed: 5644 MiB short/);
  });

  it('warnings exit 0, and 3 with --fail-on-warn', async () => {
    const state = rtx3070({ persistence: 0 });
    assert.equal((await preflight(['--need', '1GiB'], await env(state))).code, 0);
    const r = await preflight(['--need', '1GiB', '--fail-on-warn'], await env(state));
    assert.equal(r.code, 3);
    assert.match(r.stdout, /\| Persistence mode \| ⚠️ warn \| Off:/);
  });

  it('--json: the documented shape', async () => {
    const r = await preflight(['--need', '6GiB', '--margin', '512MiB', '--json', ...cardThresholds], await env(rtx3070()));
    assert.equal(r.code, 1, 'at 7608 MiB the card would be CRITICAL');
    const json = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(json), ['verdict', 'source', 'driverVersion', 'gpu', 'need', 'reserved', 'model', 'checks']);
    assert.equal(json.verdict, 'fail');
    assert.equal(json.source.kind, 'nvml');
    assert.equal(json.driverVersion, '550.54.14');
    assert.deepEqual(json.gpu, {
      index: 0,
      name: 'NVIDIA GeForce RTX 3070',
      uuid: 'GPU-5c1b2d6e-8f0a-4b1c-9d2e-3f4a5b6c7d8e',
      totalBytes: 8 * GiB,
      usedBytes: 1464 * MiB,
      freeBytes: 8 * GiB - 1464 * MiB,
    });
    assert.deepEqual(json.need, { bytes: 6 * GiB, from: '--need', marginBytes: 512 * MiB, projectedLevel: 'critical' });
    assert.equal(json.model, null);
    assert.deepEqual(json.reserved, { bytes: 0, by: [] });
    assert.deepEqual(
      json.checks.map((c: { id: string; status: string }) => [c.id, c.status]),
      [
        ['preflight.gpu', 'pass'],
        ['preflight.free', 'pass'],
        ['preflight.level', 'fail'],
        ['preflight.residual', 'pass'],
        ...(process.platform === 'linux' ? [['preflight.persistence', 'pass']] : []),
        ['preflight.driver', 'pass'],
      ],
    );
    for (const c of json.checks) assert.deepEqual(Object.keys(c), ['id', 'title', 'status', 'detail', 'advice', 'data']);
    assert.deepEqual(json.checks[1].data, { freeBytes: 8 * GiB - 1464 * MiB, needBytes: 6 * GiB, marginBytes: 512 * MiB, reservedBytes: 0 });
  });

  it('--model estimates the need from a GGUF file, with --ctx, --parallel and --kv-type', async () => {
    const model = await writeGguf('llama-3.2-3b-instruct-q4_k_m', LLAMA_32_3B, { sparse: true });
    const r = await preflight(['--model', model, '--ctx', '8192', '--parallel', '2', '--kv-type', 'q8_0', '--json'], await env(rtx3070()));
    assert.equal(r.code, 0, r.stdout);
    const json = JSON.parse(r.stdout);
    const e = json.model.estimate;
    assert.equal(e.assumptions.contextTokens, 16384, '--ctx is per sequence: -c 8192 × 2');
    assert.equal(e.assumptions.parallel, 2);
    assert.equal(e.assumptions.cacheTypeK, 'q8_0');
    assert.equal(e.parts.kvCacheBytes, 952 * MiB, '2 × 28 × 16384 × 8 × 128 × 34/32');
    assert.deepEqual(json.model.given, [`-m ${model}`, '-c 16384', '-np 2', '-ctk q8_0', '-ctv q8_0'].slice(1));
    assert.equal(json.model.settingsFrom, '--args');
    assert.equal(json.need.from, 'estimate');
    assert.equal(json.need.bytes, e.totalBytes);
  });

  it('--args takes a command line that starts with a long option, as llama-server would be given it', async () => {
    const model = await writeGguf('llama-3.2-3b-instruct-q4_k_m', LLAMA_32_3B, { sparse: true });
    const r = await preflight(['--model', model, '--args', '--ctx-size 65536 --parallel 1', '--json'], await env(rtx3070()));
    assert.notEqual(r.code, 64, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.model.estimate.assumptions.contextTokens, 65536);
    assert.equal(json.model.estimate.assumptions.parallel, 1);
    assert.equal(json.model.settingsFrom, '--args');
  });

  it("a sliding-window model is estimated with llama-server's defaults, and the report names them", async () => {
    const model = await writeGguf('gemma-2-2b-it', GEMMA2_2B, { sparse: true });
    const r = await preflight(['--model', model], await env(rtx3070()));
    assert.equal(r.code, 0);
    assert.match(r.stdout, /\| Estimated need \| ✅ pass \| Gemma 2 2B It \(gemma2\), gemma-2-2b-it\.gguf: weights \d+ MiB \+ KV cache \d+ MiB/);
    assert.match(r.stdout, /- Assumed: context 8192 tokens, 4 slots \(one unified KV cache\)/);
    assert.match(r.stdout, /no -np: llama-server's 4 slots/);
    assert.match(r.stdout, /no -c: the model's training context, 8192 tokens/);
  });

  it('a model file that is not there fails with what to do', async () => {
    const r = await preflight(['--model', '/nonexistent/llama.gguf'], await env(rtx3070()));
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /\| Estimated need \| ❌ fail \| No estimate: \/nonexistent\/llama\.gguf could not be read: the file does not exist\. \| Give the need yourself/,
    );
  });

  it('a model file it cannot estimate (not a GGUF) fails with the reason: a check it could not make does not pass', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-preflight-'));
    const notes = join(dir, 'notes.gguf');
    await writeFile(notes, 'not a model\n');
    const r = await preflight(['--model', notes], await env(rtx3070()));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\*\*FAIL/);
    assert.match(r.stdout, /\| Estimated need \| ❌ fail \| No estimate: .*notes\.gguf is not a GGUF file.* A check that could not be made does not pass\. \|/);
    const folder = await preflight(['--model', dir], await env(rtx3070()));
    assert.equal(folder.code, 1);
  });

  it('--model with --need: a model it cannot read is checked with --need, and the report says the model was not read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-preflight-'));
    const notes = join(dir, 'notes.gguf');
    await writeFile(notes, 'not a model\n');
    const fits = await preflight(['--model', notes, '--need', '1GiB'], await env(rtx3070()));
    assert.equal(fits.code, 0, fits.stdout);
    assert.match(
      fits.stdout,
      /\| Estimated need \| ➖ not available \| The model was not read: .*notes\.gguf is not a GGUF file.* The need is --need's 1024 MiB instead\. \|/,
    );
    const tooBig = await preflight(['--model', notes, '--need', '7GiB'], await env(rtx3070()));
    assert.equal(tooBig.code, 1, 'the --need is what is checked');
    // A model that can be read is estimated: --need does not replace it.
    const model = await writeGguf('llama-3.2-3b-instruct-q4_k_m', LLAMA_32_3B, { sparse: true });
    const read = await preflight(['--model', model, '--need', '7GiB', '--json'], await env(rtx3070()));
    assert.equal((JSON.parse(read.stdout) as { need: { from: string } }).need.from, 'estimate');
  });

  it('NVML missing: says so and exits 0; --strict exits 1', async () => {
    const args = ['--need', '6GiB', '--source', 'nvml', '--nvml-library', '/nonexistent/libnvidia-ml.so.1'];
    const r = await preflight(args, {});
    assert.equal(r.code, 0);
    assert.match(r.stdout, /\*\*NOT CHECKED: no GPU figures; the start is not blocked\.\*\*/);
    assert.match(r.stdout, /\| GPU figures \| ➖ not available \| No GPU source: no NVML: .*\/nonexistent\/libnvidia-ml\.so\.1/);
    const strict = await preflight([...args, '--strict', '--json'], {});
    assert.equal(strict.code, 1);
    const json = JSON.parse(strict.stdout);
    assert.equal(json.verdict, 'fail');
    assert.equal(json.gpu, null);
    assert.deepEqual(
      json.checks.map((c: { status: string }) => c.status),
      ['fail'],
    );
  });

  it('--gpu picks the GPU; one that is not there fails', async () => {
    const r = await preflight(['--gpu', '1', '--need', '1GiB'], await env(rtx3070()));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /GPU 1 was not found: this machine has GPU 0\./);
  });

  it('wrong usage throws a UsageError that names the option (the CLI exits 64)', async () => {
    const e = {};
    await assert.rejects(preflight(['--need', 'six'], e), /--need: "six" is not a size/);
    await assert.rejects(preflight(['--need', '50%'], e), /--need must be a size/);
    await assert.rejects(preflight(['--ctx', '4096'], e), /--ctx only applies with --model/);
    await assert.rejects(preflight(['--model', 'x.gguf', '--kv-type', 'q3'], e), /--kv-type must be one of f32, f16, bf16, q8_0/);
    await assert.rejects(preflight(['--model', 'x.gguf', '--ctx', '0'], e), /--ctx needs a whole number from 1/);
    await assert.rejects(preflight(['--gpu', 'first'], e), /--gpu needs a whole number/);
    await assert.rejects(preflight(['--margin', 'lots'], e), /--margin: "lots" is not a size/);
    await assert.rejects(preflight(['--bogus'], e), /unknown option --bogus/);
    await assert.rejects(
      preflight(['--model', 'x.gguf', '--args', '-c lots'], e),
      /The llama-server arguments cannot be read: -c needs a whole number, not "lots"/,
    );
    await assert.rejects(preflight(['--model', 'x.gguf', '--args', '-m "x'], e), /--args: unclosed double quote/);
    await assert.rejects(preflight(['--model', 'x.gguf', '--server', 'vllm'], e), /--server must be llama-server or ollama, not "vllm"/);
    await assert.rejects(preflight(['--model', 'qwen3:8b', '--server', 'ollama', '--args', '-c 1'], e), /--args is for llama-server/);
    await assert.rejects(
      preflight(['--model', 'qwen3:8b', '--server', 'ollama'], { OLLAMA_MODELS: '/nonexistent/ollama' }),
      /Ollama's store has no model "qwen3:8b" \(no \/nonexistent\/ollama\/manifests\/registry\.ollama\.ai\/library\/qwen3\/8b\)/,
    );
  });

  it('--help lists the options and exit codes', async () => {
    const r = await preflight(['--help'], {});
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--need SIZE/);
    assert.match(r.stdout, /--kv-type T/);
    assert.match(r.stdout, /Exit codes: 0 pass/);
  });
});

// End to end through the built dist/cli.cjs: `vram-guard preflight` as a user runs it.
describe('vram-guard preflight (built CLI)', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv) => runCli(args, env);

  it('exit codes 0 / 1 / 3 / 64 and the GGUF estimate from the bundle', async () => {
    assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
    const lib = await buildFakeNvml();
    const fits = await FakeNvmlState.create(rtx3070());
    const full = await FakeNvmlState.create(rtx3070({ used: 8 * GiB - 500 * MiB }));
    const slow = await FakeNvmlState.create(rtx3070({ persistence: 0 }));
    const model = await writeGguf('llama-3.2-3b-instruct-q4_k_m', LLAMA_32_3B, { sparse: true });
    const ok = await run(['preflight', '--model', model, '--args', '-c 4096 -np 1 -fa off', '--nvml-library', lib], { FAKE_NVML_STATE: fits.path });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /\| Weights \| 1918 MiB \|\n\| KV cache \| 448 MiB \|/);
    assert.match(ok.stdout, /\| \*\*Estimated total\*\* \| \*\*\d+ MiB\*\* \|/);
    assert.equal((await run(['preflight', '--need', '6144MiB', '--nvml-library', lib], { FAKE_NVML_STATE: full.path })).code, 1);
    assert.equal((await run(['preflight', '--need', '1GiB', '--fail-on-warn', '--nvml-library', lib], { FAKE_NVML_STATE: slow.path })).code, 3);
    const usage = await run(['preflight', '--need', 'six'], {});
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /vram-guard preflight: --need: "six" is not a size/);
  });
});
