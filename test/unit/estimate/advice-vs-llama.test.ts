/**
 * The fit advice checked by the real llama.cpp: for each kind of advice, a generated model
 * (llama-shapes/architectures.ts) whose llama-server arguments do not fit a small card by llama.cpp's
 * own figures; the advice for that card, applied to the arguments (`argsWithFlags`, as the extension
 * writes them), sized again by llama.cpp's no-allocation dry run — and it fits; one step beyond it
 * (256 tokens more, one layer more, one expert layer fewer on the CPU) does not, or the advice is
 * within ADVICE_SLACK of the budget.
 *
 * What "fits" means, part by part (docs/preflight-and-estimates.md, "Advice checked by llama.cpp"):
 * the weights, KV cache and recurrent state on the device are llama.cpp's dry-run figures; the
 * compute buffer is backend-specific (the dry run's device is Mesa's software Vulkan device, the
 * advice is for a CUDA card), so the card's figure is the larger of llama.cpp's Vulkan reservation
 * and the estimate's CUDA one (held to published CUDA logs by the truth set); the CUDA context
 * (CUDA_RUNTIME_BYTES) no llama.cpp buffer shows. The budget is the free memory less llama.cpp's
 * default fit target (1024 MiB). The dry run runs with `--fit off`: the budgets here are numbers
 * the figures are compared with, not lavapipe's memory.
 * Needs `npm run setup:llama` (the dry-run tool): without it every test fails saying so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argsWithFlags } from '../../../src/core/estimate/apply-advice.ts';
import { adviseServerArgs, DEFAULT_FIT_TARGET_BYTES, type FitSuggestion } from '../../../src/core/estimate/fit-advice.ts';
import { isEstimator, openModelEstimator } from '../../../src/core/estimate/model-estimator.ts';
import { parseLlamaServerArgs } from '../../../src/core/estimate/server-args.ts';
import { CUDA_RUNTIME_BYTES } from '../../../src/core/estimate/vram-estimate.ts';
import { MiB } from '../../../src/core/units.ts';
import { shapePath } from '../../helpers/llama-dry-run-matrix.ts';
import { deviceTotals, llamaDryRun } from '../../helpers/llama-dry-run.ts';
import { SHAPE_MODELS } from '../../helpers/llama-shapes/architectures.ts';

/** How far below the budget an advice may stay when the next step would also fit (the held parts' matrix bound). */
const ADVICE_SLACK = 32 * MiB;

const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;

interface CardFigure {
  /** On a CUDA card: llama.cpp's held parts + the CUDA compute buffer + the CUDA context. */
  cuda: number;
  /** The same with the larger of llama.cpp's Vulkan compute buffer and the CUDA one. */
  worst: number;
  text: string;
}

/** What `args` take on the card, by llama.cpp's dry run (and the estimate's CUDA compute buffer beside Vulkan's). */
async function onCard(path: string, args: readonly string[]): Promise<CardFigure> {
  const report = await llamaDryRun(path, args);
  const d = deviceTotals(report);
  const parsed = parseLlamaServerArgs(args);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  const estimator = await openModelEstimator(path);
  assert.ok(isEstimator(estimator));
  const e = estimator.estimate(parsed.settings);
  assert.equal(e.kind, 'estimate', e.kind === 'none' ? e.reason : '');
  const cudaCompute = e.kind === 'estimate' ? e.parts.computeBufferBytes : 0;
  const held = d.weights + d.kv + d.recurrent + CUDA_RUNTIME_BYTES;
  return {
    cuda: held + cudaCompute,
    worst: held + Math.max(d.compute, cudaCompute),
    text: `${mib(held + cudaCompute)} (weights ${mib(d.weights)}, KV ${mib(d.kv)}, recurrent ${mib(d.recurrent)}, CUDA compute ${mib(cudaCompute)}, CUDA context ${mib(CUDA_RUNTIME_BYTES)}; Vulkan compute ${mib(d.compute)})`,
  };
}

interface AdviceCase {
  shape: string;
  args: string[];
  /** The card's free memory, MiB. */
  freeMiB: number;
  /** Which suggestion is checked, by its title. */
  title: RegExp;
  /** The flags beyond the advice, one step: more context, one more layer, fewer expert layers on the CPU; null: none. */
  beyond: (s: FitSuggestion, args: string[]) => string[] | null;
}

const flagValue = (args: readonly string[], flag: string): number => {
  const i = args.lastIndexOf(flag);
  assert.ok(i >= 0, `${flag} in ${args.join(' ')}`);
  return Number(args[i + 1]);
};
const moreContext = (_: FitSuggestion, args: string[]) => argsWithFlags(args, `-c ${flagValue(args, '-c') + 256}`);
const moreLayers = (_: FitSuggestion, args: string[]) => argsWithFlags(args, `-ngl ${flagValue(args, '-ngl') + 1}`);
const fewerExpertLayers = (_: FitSuggestion, args: string[]) => {
  const n = flagValue(args, '--n-cpu-moe');
  return n > 1 ? argsWithFlags(args, `--n-cpu-moe ${n - 1}`) : null;
};

async function check(c: AdviceCase): Promise<void> {
  const shape = SHAPE_MODELS.find((s) => s.id === c.shape);
  assert.ok(shape, c.shape);
  const path = await shapePath(shape);
  const free = c.freeMiB * MiB;
  const budget = free - DEFAULT_FIT_TARGET_BYTES;
  const before = await onCard(path, c.args);
  assert.ok(before.cuda > budget, `the original arguments must not fit ${mib(budget)} by llama.cpp's figures: ${before.text}`);

  const estimator = await openModelEstimator(path);
  assert.ok(isEstimator(estimator));
  const parsed = parseLlamaServerArgs(c.args);
  assert.ok(parsed.ok);
  const { advice, budgetBytes } = adviseServerArgs(estimator, parsed.settings, free);
  assert.equal(budgetBytes, budget);
  const s = advice.find((a) => c.title.test(a.title));
  assert.ok(s, `no ${c.title} advice among: ${advice.map((a) => `${a.title} (${a.flags})`).join('; ') || 'none'}`);
  const applied = argsWithFlags(c.args, s.flags);
  const after = await onCard(path, applied);
  assert.ok(after.cuda <= budget, `${applied.join(' ')} must fit ${mib(budget)} by llama.cpp's figures: ${after.text}`);
  // With Vulkan's compute buffer where it is the larger, the advice still fits the card: within the fit target.
  assert.ok(after.worst <= free, `${applied.join(' ')} must fit ${mib(free)} free with Vulkan's compute buffer: ${after.text}`);

  const next = c.beyond(s, applied);
  if (next === null) return;
  const beyond = await onCard(path, next);
  assert.ok(
    beyond.cuda > budget || budget - after.cuda <= ADVICE_SLACK,
    `the advice is too cautious: ${applied.join(' ')} takes ${after.text} of ${mib(budget)}, and ${next.join(' ')} would fit too: ${beyond.text}`,
  );
}

describe("fit advice, applied, fits by llama.cpp's own dry run (generated models, a small card)", () => {
  it('the largest context that fits, one slot (dense, llama)', async () => {
    await check({ shape: 'llama', args: ['-c', '32768', '-np', '1', '-fa', 'on'], freeMiB: 2400, title: /^Largest context that fits/, beyond: moreContext });
  });

  it('the largest context that fits, four slots each with its own cache (dense, qwen3)', async () => {
    await check({ shape: 'qwen3', args: ['-c', '65536', '-np', '4', '-fa', 'on'], freeMiB: 2400, title: /^Largest context that fits/, beyond: moreContext });
  });

  it("the largest context that fits, llama-server's default slots sharing one cache (sliding window, gemma3)", async () => {
    await check({ shape: 'gemma3', args: ['-c', '65536', '-fa', 'on'], freeMiB: 2000, title: /^Largest context that fits/, beyond: moreContext });
  });

  it('the largest context that fits with a q8_0 KV cache (dense, llama)', async () => {
    await check({
      shape: 'llama',
      args: ['-c', '65536', '-np', '1', '-fa', 'on'],
      freeMiB: 2400,
      title: /^Largest context with a q8_0 KV cache/,
      beyond: moreContext,
    });
  });

  it('the largest context that fits a q8_0 cache already asked for (dense, llama)', async () => {
    await check({
      shape: 'llama',
      args: ['-c', '65536', '-np', '1', '-fa', 'on', '-ctk', 'q8_0', '-ctv', 'q8_0'],
      freeMiB: 2200,
      title: /^Largest context that fits/,
      beyond: moreContext,
    });
  });

  it('-ngl N when the weights do not fit even at a short context (dense, llama)', async () => {
    await check({ shape: 'llama', args: ['-c', '4096', '-np', '1', '-fa', 'on'], freeMiB: 1560, title: /layers on the GPU/, beyond: moreLayers });
  });

  it('-ngl N for a model with experts (qwen3moe)', async () => {
    await check({ shape: 'qwen3moe', args: ['-c', '4096', '-np', '1', '-fa', 'on', '-cmoe'], freeMiB: 1350, title: /layers on the GPU/, beyond: moreLayers });
  });

  it("-np 1 when llama-server's default slots are what does not fit (Mamba-2 hybrid, granitehybrid)", async () => {
    await check({ shape: 'granitehybrid', args: ['-c', '8192', '-fa', 'on'], freeMiB: 1500, title: /^One slot/, beyond: () => null });
  });

  it('--n-cpu-moe N: the fewest layers whose experts move to the CPU (qwen3moe)', async () => {
    await check({
      shape: 'qwen3moe',
      args: ['-c', '4096', '-np', '1', '-fa', 'on'],
      freeMiB: 1900,
      title: /^Experts of \d+ layers? on the CPU/,
      beyond: fewerExpertLayers,
    });
  });

  it('--n-cpu-moe N for gated delta net layers with experts (qwen3next)', async () => {
    await check({
      shape: 'qwen3next',
      args: ['-c', '8192', '-np', '1', '-fa', 'on'],
      freeMiB: 1600,
      title: /^Experts of \d+ layers? on the CPU/,
      beyond: fewerExpertLayers,
    });
  });
});
