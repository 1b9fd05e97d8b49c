/** llama-server's command line and LLAMA_ARG_* variables → the settings that change memory. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLlamaServerArgs, splitCommandLine } from '../../../src/core/estimate/server-args.ts';
import { MiB } from '../../../src/core/units.ts';

const ok = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseLlamaServerArgs(argv, env);
  if (!r.ok) assert.fail(r.error);
  return r;
};
const error = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseLlamaServerArgs(argv, env);
  assert.equal(r.ok, false, 'expected an error');
  return (r as { error: string }).error;
};

describe('llama-server arguments', () => {
  it('reads a typical task: model, context, slots, flash attention, quantized KV', () => {
    const r = ok([
      '-m',
      'models/qwen.gguf',
      '--port',
      '8080',
      '-c',
      '16384',
      '-np',
      '2',
      '-fa',
      'on',
      '-ctk',
      'q8_0',
      '-ctv',
      'q8_0',
      '-ngl',
      '99',
      '--host',
      '127.0.0.1',
    ]);
    assert.equal(r.modelPath, 'models/qwen.gguf');
    assert.equal(r.settings.contextTokens, 16384);
    assert.equal(r.settings.parallel, 2);
    assert.equal(r.settings.flashAttention, 'on');
    assert.equal(r.settings.cacheTypeK, 'q8_0');
    assert.equal(r.settings.cacheTypeV, 'q8_0');
    assert.equal(r.settings.gpuLayers, 99);
    assert.deepEqual(r.given, ['-m models/qwen.gguf', '-c 16384', '-np 2', '-fa on', '-ctk q8_0', '-ctv q8_0', '-ngl 99']);
  });

  it("leaves what is not given as null, for the estimate to apply llama.cpp's defaults", () => {
    const r = ok(['-m', 'm.gguf']);
    for (const k of [
      'contextTokens',
      'parallel',
      'kvUnified',
      'flashAttention',
      'cacheTypeK',
      'cacheTypeV',
      'batchTokens',
      'ubatchTokens',
      'gpuLayers',
      'fit',
      'fitTargetBytes',
    ] as const)
      assert.equal(r.settings[k], null, k);
    assert.equal(r.settings.draft, null);
    assert.equal(r.settings.projectorOffload, true);
  });

  it('takes long names, --opt=value and --snake_case as llama.cpp does', () => {
    const r = ok([
      '--model=m.gguf',
      '--ctx_size',
      '8192',
      '--parallel=3',
      '--flash-attn=off',
      '--cache-type-k=q4_0',
      '--batch-size',
      '1024',
      '--ubatch-size=256',
      '--n-gpu-layers',
      'all',
    ]);
    assert.equal(r.modelPath, 'm.gguf');
    assert.equal(r.settings.contextTokens, 8192);
    assert.equal(r.settings.parallel, 3);
    assert.equal(r.settings.flashAttention, 'off');
    assert.equal(r.settings.cacheTypeK, 'q4_0');
    assert.equal(r.settings.batchTokens, 1024);
    assert.equal(r.settings.ubatchTokens, 256);
    assert.equal(r.settings.gpuLayers, 'all');
  });

  it('reads -ngl auto / -1 as auto and -2 or below as all layers', () => {
    assert.equal(ok(['-ngl', 'auto']).settings.gpuLayers, null);
    assert.equal(ok(['-ngl', '-1']).settings.gpuLayers, null);
    assert.equal(ok(['-ngl', '-2']).settings.gpuLayers, 'all');
    assert.equal(ok(['--gpu-layers', '20']).settings.gpuLayers, 20);
  });

  it('reads an old bare -fa (before a flag or at the end) as on', () => {
    assert.equal(ok(['-fa', '-c', '4096']).settings.flashAttention, 'on');
    assert.equal(ok(['-c', '4096', '-fa']).settings.flashAttention, 'on');
    assert.equal(ok(['-fa', 'auto']).settings.flashAttention, 'auto');
    assert.equal(ok(['-fa', '-1']).settings.flashAttention, 'auto', '-1 is llama.cpp\'s "auto"');
  });

  it('reads the MoE offload switches and -ot patterns whose buffer is the CPU', () => {
    const r = ok(['--n-cpu-moe', '12', '-ot', 'blk\\.(1|2)\\.ffn_.*_exps=CPU,token_embd=CUDA0', '--override-tensor', 'exps=CPU']);
    assert.equal(r.settings.cpuMoeLayers, 12);
    assert.deepEqual(r.settings.cpuTensorPatterns, ['blk\\.(1|2)\\.ffn_.*_exps', 'exps']);
    assert.equal(ok(['-cmoe']).settings.cpuMoeAll, true);
  });

  it('reads the projector, its offload switch, --swa-full, -kvu, --fit and --fit-target', () => {
    const r = ok(['--mmproj', 'mmproj-f16.gguf', '--no-mmproj-offload', '--swa-full', '-kvu', '--fit', 'off', '--fit-target', '2048']);
    assert.equal(r.settings.projectorPath, 'mmproj-f16.gguf');
    assert.equal(r.settings.projectorOffload, false);
    assert.equal(r.settings.swaFull, true);
    assert.equal(r.settings.kvUnified, true);
    assert.equal(r.settings.fit, false);
    assert.equal(r.settings.fitTargetBytes, 2048 * MiB);
    assert.equal(ok(['-fitt', '512,1024']).settings.fitTargetBytes, 512 * MiB, 'the first device of a per-device list');
    assert.equal(ok(['--mmproj', 'p.gguf', '--no-mmproj']).settings.projectorPath, null);
  });

  it("reads --no-op-offload and --op-offload (llama.cpp's default: on)", () => {
    assert.equal(ok([]).settings.opOffload, true);
    assert.equal(ok(['--no-op-offload']).settings.opOffload, false);
    assert.equal(ok(['--no-op-offload', '--op-offload']).settings.opOffload, true);
  });

  it('reads a draft model and its own flags', () => {
    const r = ok(['-m', 'big.gguf', '-md', 'small.gguf', '-ngld', '99', '-cd', '4096', '-ctkd', 'q8_0', '-ctvd', 'q8_0']);
    assert.deepEqual(r.settings.draft, { modelPath: 'small.gguf', gpuLayers: 99, contextTokens: 4096, cacheTypeK: 'q8_0', cacheTypeV: 'q8_0' });
  });

  it('skips flags that do not change memory, with their values', () => {
    const r = ok(['--alias', 'qwen', '-t', '8', '--jinja', '--temp', '0.7', '-c', '2048', '--api-key', '-secret-', '--no-webui']);
    assert.equal(r.settings.contextTokens, 2048);
  });

  it('reads LLAMA_ARG_* variables, and the command line overrides them', () => {
    const env = {
      LLAMA_ARG_CTX_SIZE: '32768',
      LLAMA_ARG_FLASH_ATTN: 'on',
      LLAMA_ARG_N_PARALLEL: '2',
      LLAMA_ARG_CACHE_TYPE_K: 'q8_0',
      LLAMA_ARG_KV_UNIFIED: '1',
      LLAMA_ARG_MODEL: '/m/a.gguf',
      LLAMA_ARG_MMPROJ_OFFLOAD: 'off',
      LLAMA_ARG_SWA_FULL: 'false',
    };
    const r = ok(['-c', '8192'], env);
    assert.equal(r.settings.contextTokens, 8192);
    assert.equal(r.settings.flashAttention, 'on');
    assert.equal(r.settings.parallel, 2);
    assert.equal(r.settings.cacheTypeK, 'q8_0');
    assert.equal(r.settings.kvUnified, true);
    assert.equal(r.settings.projectorOffload, false);
    assert.equal(r.settings.swaFull, false);
    assert.equal(r.modelPath, '/m/a.gguf');
    assert.ok(r.given.includes('LLAMA_ARG_CTX_SIZE=32768') && r.given.includes('-c 8192'));
  });

  it('refuses values llama.cpp would refuse, naming the flag', () => {
    assert.match(error(['-c', 'lots']), /-c needs a whole number, not "lots"/);
    assert.match(error(['-ctk', 'q3_k']), /-ctk must be one of f32, f16, .*not "q3_k"/);
    assert.match(error(['-fa', 'maybe']), /-fa must be on, off or auto, not "maybe"/);
    assert.match(error(['--fit', 'sure']), /--fit must be on or off/);
    assert.match(error(['-np', '0']), /-np must be at least 1/);
    assert.match(error(['-ub', '0']), /-ub must be from 1/);
    assert.match(error(['-ot', 'noequals']), /-ot needs PATTERN=BUFFER/);
    assert.match(error(['-ot', '([=CPU']), /not a valid regular expression/);
    assert.match(error(['-c']), /-c needs a value, but it is the last argument/);
    assert.match(error(['--swa-full=1']), /--swa-full takes no value/);
    assert.match(error([], { LLAMA_ARG_CTX_SIZE: 'big' }), /environment variable LLAMA_ARG_CTX_SIZE needs a whole number/);
    assert.match(error([], { LLAMA_ARG_SWA_FULL: 'perhaps' }), /LLAMA_ARG_SWA_FULL must be on or off/);
  });
});

describe('splitting --args without a shell', () => {
  it('splits on spaces and keeps quoted words whole, expanding nothing', () => {
    assert.deepEqual(splitCommandLine(`-m "/models/My Model.gguf" -c 8192 -ot 'blk\\.[0-9]+\\.ffn_.*=CPU' $HOME`), {
      ok: true,
      args: ['-m', '/models/My Model.gguf', '-c', '8192', '-ot', 'blk\\.[0-9]+\\.ffn_.*=CPU', '$HOME'],
    });
    assert.deepEqual(splitCommandLine('  a\\ b  "x\\"y" '), { ok: true, args: ['a b', 'x"y'] });
    assert.deepEqual(splitCommandLine(''), { ok: true, args: [] });
  });

  it('refuses an unclosed quote', () => {
    const r = splitCommandLine('-m "model.gguf');
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /unclosed double quote/);
  });
});

it('--spec-type draft-mtp asks for the NextN layers and their draft context, whose cache takes -ctkd/-ctvd (llama.cpp adds each list to the ones before)', () => {
  const none = parseLlamaServerArgs(['-c', '4096']);
  assert.ok(none.ok);
  assert.equal(none.settings.mtp, null);
  const ngram = parseLlamaServerArgs(['--spec-type', 'ngram-mod']);
  assert.ok(ngram.ok);
  assert.equal(ngram.settings.mtp, null);
  const mtp = parseLlamaServerArgs(['--spec-type', 'ngram-mod', '--spec-type=draft-mtp', '-ctkd', 'q8_0']);
  assert.ok(mtp.ok);
  assert.deepEqual(mtp.settings.mtp, { cacheTypeK: 'q8_0', cacheTypeV: null });
  assert.equal(mtp.settings.draft, null, 'no draft model: the MTP context runs on the main model');
  const env = parseLlamaServerArgs([], { LLAMA_ARG_SPEC_TYPE: 'ngram-mod,draft-mtp' });
  assert.ok(env.ok);
  assert.deepEqual(env.settings.mtp, { cacheTypeK: null, cacheTypeV: null });
});

it('-ts splits the layers by proportions (commas or slashes, as llama.cpp splits them); all zeros is no split; -sm is read', () => {
  const ts = parseLlamaServerArgs(['-ts', '3/1', '-sm', 'layer']);
  assert.ok(ts.ok);
  assert.deepEqual(ts.settings.tensorSplit, [3, 1]);
  assert.equal(ts.settings.splitMode, 'layer');
  const zeros = parseLlamaServerArgs(['--tensor-split', '0,0']);
  assert.ok(zeros.ok);
  assert.equal(zeros.settings.tensorSplit, null);
  const env = parseLlamaServerArgs([], { LLAMA_ARG_TENSOR_SPLIT: '0.6,0.4' });
  assert.ok(env.ok);
  assert.deepEqual(env.settings.tensorSplit, [0.6, 0.4]);
});
