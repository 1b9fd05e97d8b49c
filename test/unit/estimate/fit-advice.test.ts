/**
 * Fit advice and --fit, over the real estimate: each suggestion is a command line that, sized
 * again, fits the budget, and the one just beyond it does not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argsWithFlags } from '../../../src/core/estimate/apply-advice.ts';
import { adviseServerArgs, fitAdvice, planFit } from '../../../src/core/estimate/fit-advice.ts';
import { DEFAULT_LLAMA_SETTINGS, type LlamaSettings } from '../../../src/core/estimate/llama-settings.ts';
import { isEstimator, openModelEstimator, type ModelEstimator } from '../../../src/core/estimate/model-estimator.ts';
import { parseLlamaServerArgs } from '../../../src/core/estimate/server-args.ts';
import type { VramEstimate } from '../../../src/core/estimate/estimate-types.ts';
import { GiB, MiB } from '../../helpers/fake-nvml.ts';
import { LLAMA_32_3B, T, writeGguf, type FixtureSpec } from '../../helpers/gguf-fixtures.ts';
import { transformerModel, type TransformerSpec } from '../../helpers/truth-models.ts';
import { loadTruthCases } from '../../helpers/truth-set.ts';

/** Llama 3.2 3B's attention with 8 experts of its feed-forward per layer, 2 used (a Mixtral-style MoE in the llama architecture). */
function moe(): FixtureSpec {
  const embd = 3072;
  const ffn = 8192;
  const tensors = LLAMA_32_3B.tensors.filter((t) => !/ffn_(gate|up|down)\.weight$/.test(t.name));
  for (let i = 0; i < 28; i++) {
    tensors.push(
      { name: `blk.${i}.ffn_gate_inp.weight`, shape: [embd, 8], type: T.F32 },
      { name: `blk.${i}.ffn_gate_exps.weight`, shape: [embd, ffn, 8], type: T.Q4_K },
      { name: `blk.${i}.ffn_up_exps.weight`, shape: [embd, ffn, 8], type: T.Q4_K },
      { name: `blk.${i}.ffn_down_exps.weight`, shape: [ffn, embd, 8], type: T.Q4_K },
    );
  }
  return { metadata: { ...LLAMA_32_3B.metadata, 'general.name': 'Llama MoE 8x3B', 'llama.expert_count': 8, 'llama.expert_used_count': 2 }, tensors };
}

async function open(name: string, spec: FixtureSpec): Promise<ModelEstimator> {
  const e = await openModelEstimator(await writeGguf(name, spec, { sparse: true }));
  assert.ok(isEstimator(e), 'kind' in e ? (e as { reason: string }).reason : '');
  return e;
}

const settingsOf = (args: string) => {
  const r = parseLlamaServerArgs(args.split(' ').filter(Boolean));
  assert.ok(r.ok);
  return r.settings;
};
const totalOf = (m: ModelEstimator, s: LlamaSettings) => (m.estimate(s) as VramEstimate).totalBytes;

describe('fit advice', () => {
  it('for a dense model: the largest context, with a q8_0 cache, with flash attention — each fits, 256 tokens more does not', async () => {
    const m = await open('advice-llama', LLAMA_32_3B);
    const base = settingsOf('-c 65536 -np 1 -fa off -ngl 99');
    const plan = planFit(m, base, m.estimate(base) as VramEstimate, 8 * GiB);
    const budget = 5 * GiB;
    const advice = fitAdvice(m, plan, budget, 'llama-server');
    assert.deepEqual(
      advice.map((a) => a.title),
      ['Largest context that fits', 'Largest context with a q8_0 KV cache', 'Largest context with flash attention'],
    );
    for (const a of advice) {
      const s = {
        ...base,
        ...settingsOf(a.flags.replace(/ -fa on/, '')),
        ...(a.flags.includes('-fa on') ? { flashAttention: 'on' as const } : {}),
        gpuLayers: 99,
      };
      const withFlags = {
        ...base,
        contextTokens: s.contextTokens,
        cacheTypeK: s.cacheTypeK ?? base.cacheTypeK,
        cacheTypeV: s.cacheTypeV ?? base.cacheTypeV,
        flashAttention: s.flashAttention ?? base.flashAttention,
      };
      assert.equal(totalOf(m, withFlags), a.totalBytes, `${a.flags}: the total shown is the estimate of those flags`);
      assert.ok(a.totalBytes <= budget, `${a.flags} fits`);
      assert.ok(totalOf(m, { ...withFlags, contextTokens: withFlags.contextTokens! + 256 }) > budget, `${a.flags}: 256 tokens more would not fit`);
    }
    assert.match(advice[1]!.flags, /^-c \d+ -ctk q8_0 -ctv q8_0 -fa on$/, 'a quantized V cache needs flash attention');
    assert.ok(advice[1]!.contextTokens > advice[0]!.contextTokens);
  });

  it('for Ollama the flags are its environment variables', async () => {
    const m = await open('advice-llama-ollama', LLAMA_32_3B);
    const base = { ...DEFAULT_LLAMA_SETTINGS, contextTokens: 65536, parallel: 2, kvUnified: false, flashAttention: 'auto' as const };
    const plan = planFit(m, base, m.estimate(base) as VramEstimate, 8 * GiB);
    const advice = fitAdvice(m, plan, 4 * GiB, 'ollama');
    assert.match(advice[0]!.flags, /^OLLAMA_CONTEXT_LENGTH=\d+$/);
    assert.equal(Number(advice[0]!.flags.split('=')[1]) * 2, advice[0]!.contextTokens, 'per slot, as Ollama counts it');
    assert.match(advice[1]!.flags, /OLLAMA_KV_CACHE_TYPE=q8_0/);
  });

  it('for a MoE model: the fewest layers whose experts go to the CPU (--n-cpu-moe N)', async () => {
    const m = await open('advice-moe', moe());
    const base = settingsOf('-c 8192 -np 1 -ngl 99');
    const est = m.estimate(base) as VramEstimate;
    assert.ok(est.totalBytes > 8 * GiB, `${Math.round(est.totalBytes / MiB)} MiB: the experts alone do not fit an 8 GiB card`);
    const budget = 6 * GiB;
    const advice = fitAdvice(m, planFit(m, base, est, 8 * GiB), budget, 'llama-server');
    const cpu = advice.find((a) => a.flags.startsWith('--n-cpu-moe'));
    assert.ok(cpu, JSON.stringify(advice));
    const n = Number(cpu.flags.split(' ')[1]);
    assert.ok(totalOf(m, { ...base, cpuMoeLayers: n }) <= budget);
    assert.ok(totalOf(m, { ...base, cpuMoeLayers: n - 1 }) > budget, 'one layer fewer would not fit');
  });
});

describe('--fit', () => {
  it('no -c: the largest context (a multiple of 256, at least 4096) that leaves the fit target free; said plainly', async () => {
    const m = await open('fit-llama', LLAMA_32_3B);
    const base = settingsOf('');
    const plan = planFit(m, base, m.estimate(base) as VramEstimate, 6 * GiB);
    assert.equal(plan.takesAllFree, true);
    const ctx = plan.estimate.assumptions.contextTokens;
    assert.equal(ctx % 256, 0);
    assert.ok(plan.estimate.totalBytes <= 5 * GiB);
    assert.ok(totalOf(m, { ...base, contextTokens: ctx + 256 }) > 5 * GiB);
    assert.match(plan.note!, /all free memory but the 1024 MiB fit margin/);
  });

  it('-c given, no -ngl: fewer layers on the GPU; --fit off or -ngl given: nothing changes', async () => {
    const m = await open('fit-llama-layers', LLAMA_32_3B);
    const base = settingsOf('-c 131072 -fa on');
    const plan = planFit(m, base, m.estimate(base) as VramEstimate, 6 * GiB);
    assert.ok(plan.estimate.assumptions.gpuLayers < 28);
    assert.match(plan.note!, /keep only \d+ of 28 layers on the GPU/);
    for (const args of ['-c 131072 -fa on --fit off', '-c 131072 -fa on -ngl 99']) {
      const s = settingsOf(args);
      const p = planFit(m, s, m.estimate(s) as VramEstimate, 6 * GiB);
      assert.equal(p.note, null, args);
      assert.equal(p.takesAllFree, false);
    }
  });
});

/** A model of the truth set (test/fixtures/estimate-truth), rebuilt with the shapes its published log prints. */
async function published(id: string): Promise<ModelEstimator> {
  const c = (await loadTruthCases()).find((x) => x.id === id);
  assert.ok(c && c.model.kind === 'transformer', `${id} is a transformer case of the truth set`);
  return open(`advice-${id}`, transformerModel(c.model as TransformerSpec));
}

describe('advice for a small card (published shapes)', () => {
  it('Qwen2.5-Coder 7B Q4_K_M (4168 MiB of weights on the GPU) with 4 GiB free: -ngl N, the most layers that fit; one layer more does not', async () => {
    const m = await published('qwen25-coder-7b-q4km-ollama-4k');
    const base = settingsOf('-c 4096 -np 1');
    const free = 4 * GiB;
    const { budgetBytes, advice } = adviseServerArgs(m, base, free);
    assert.equal(budgetBytes, free - 1024 * MiB, "free memory less llama.cpp's default fit target");
    const ngl = advice.find((a) => /-ngl \d+/.test(a.flags));
    assert.ok(ngl, JSON.stringify(advice));
    const n = Number(/-ngl (\d+)/.exec(ngl.flags)![1]);
    assert.ok(n >= 1 && n < 29, `${n} of 29`);
    const applied = settingsOf(argsWithFlags(['-c', '4096', '-np', '1'], ngl.flags).join(' '));
    assert.equal(totalOf(m, applied), ngl.totalBytes, 'the total shown is the estimate of the command line with the flags applied');
    assert.ok(ngl.totalBytes <= budgetBytes);
    assert.ok(totalOf(m, { ...applied, gpuLayers: n + 1 }) > budgetBytes, 'one layer more does not fit');
  });

  it("Qwen3.5 35B-A3B's recurrent state (4 slots: 251 MiB) on a card where llama-server's default slots do not fit: -np 1", async () => {
    const m = await published('qwen35-35b-a3b-hybrid-4-slots');
    const defaults = settingsOf('-c 4096');
    const one = settingsOf('-c 4096 -np 1');
    const four = totalOf(m, defaults);
    const single = totalOf(m, one);
    assert.ok(four - single > 150 * MiB, `4 slots ${Math.round(four / MiB)} MiB, 1 slot ${Math.round(single / MiB)} MiB`);
    const free = single + 1024 * MiB + 32 * MiB;
    const { advice } = adviseServerArgs(m, defaults, free);
    const np = advice.find((a) => a.flags === '-np 1');
    assert.ok(np, JSON.stringify(advice));
    assert.equal(np.totalBytes, single);
    assert.ok(np.totalBytes <= free - 1024 * MiB);
    assert.deepEqual(argsWithFlags(['-m', 'model.gguf', '-c', '4096', '--parallel', '4'], np.flags), ['-m', 'model.gguf', '-c', '4096', '-np', '1']);
  });

  it('Qwen3 4B Q4_K_M at its full context with a q8_0 cache: the largest context per slot count and cache type, each fitting and 256 tokens more not', async () => {
    const m = await published('qwen3-4b-q4km-server-8k');
    const base = settingsOf('-c 40960 -np 2 -ctk q8_0 -ctv q8_0');
    const free = 5 * GiB;
    const { budgetBytes, advice } = adviseServerArgs(m, base, free);
    const largest = advice.find((a) => a.title === 'Largest context that fits');
    assert.ok(largest, JSON.stringify(advice));
    const s = settingsOf(argsWithFlags(['-c', '40960', '-np', '2', '-ctk', 'q8_0', '-ctv', 'q8_0'], largest.flags).join(' '));
    assert.equal(s.parallel, 2);
    assert.equal(s.cacheTypeV, 'q8_0');
    assert.ok(totalOf(m, s) <= budgetBytes);
    assert.ok(totalOf(m, { ...s, contextTokens: s.contextTokens! + 256 }) > budgetBytes);
  });
});
