/**
 * The compute buffer against llama.cpp v0.5.0's own reservation of the same graph: small shape-only
 * models (dense, mixture of experts, gated delta net, Mamba 2) reserved by the real llama.cpp's CPU
 * build (`llama-fit-params -v`, which leaves `n_outputs_max` unset, so every micro-batch token's
 * logits). The CPU buffer also holds the token embedding's rows (`n_embd × n_ubatch` f32), which a
 * CUDA server keeps on the CPU; the estimate must be within 10 % of the rest.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readGgufModel, type GgufModel } from '../../../src/core/estimate/gguf-model.ts';
import { DEFAULT_LLAMA_SETTINGS } from '../../../src/core/estimate/llama-settings.ts';
import { estimateVram } from '../../../src/core/estimate/vram-estimate.ts';
import { MiB } from '../../../src/core/units.ts';
import { writeGguf, type FixtureSpec } from '../../helpers/gguf-fixtures.ts';
import { llamaReservedCompute, mamba2Model, qwen35Model, qwen3Model } from '../../helpers/reserve-models.ts';

async function check(name: string, spec: FixtureSpec, ctx: number, ubatch: number): Promise<void> {
  const path = await writeGguf(`reserve-${name}`, spec, { sparse: true });
  const m = (await readGgufModel(path)) as GgufModel;
  assert.equal(m.kind, 'model');
  const reserved = await llamaReservedCompute(path, ['-c', String(ctx), '-ub', String(ubatch), '-b', String(ubatch), '-np', '1', '-fa', 'on']);
  const onGpu = reserved - m.embeddingLength * ubatch * 4;
  const settings = { ...DEFAULT_LLAMA_SETTINGS, contextTokens: ctx, parallel: 1, ubatchTokens: ubatch, batchTokens: ubatch, flashAttention: 'on' as const };
  const e = estimateVram(m, settings, { outputRows: 'ubatch', graph: 'current' });
  assert.equal(e.kind, 'estimate');
  if (e.kind !== 'estimate') return;
  const predicted = e.parts.computeBufferBytes;
  assert.ok(
    Math.abs(predicted - onGpu) <= 0.1 * onGpu,
    `${name}: predicted ${(predicted / MiB).toFixed(2)} MiB, llama.cpp reserved ${(reserved / MiB).toFixed(2)} MiB (${(onGpu / MiB).toFixed(2)} MiB without the token embedding's rows)`,
  );
}

describe("compute buffer against llama.cpp's own reservation (shape-only models, the real llama.cpp's CPU build)", () => {
  it('dense (Qwen3 4B layers): attention with an f16 mask, the SwiGLU block beside the residual stream', async () => {
    await check('qwen3-dense', qwen3Model({ layers: 4, embd: 2560, heads: 32, kvHeads: 8, ff: 9728 }), 8192, 512);
  });

  it("mixture of experts (Qwen3 30B-A3B's experts): the selected experts' outputs and their weighted copy", async () => {
    await check('qwen3-moe', qwen3Model({ layers: 4, embd: 2048, heads: 32, kvHeads: 4, ff: 6144, experts: { count: 128, used: 8, ff: 768 } }), 4096, 512);
  });

  it("gated delta net (Qwen3.5 35B-A3B's linear-attention layers): compute at a short context", async () => {
    await check('qwen35-gdn', qwen35Model({ layers: 4, embd: 2048, state: 128, groups: 16, rank: 32 }), 4096, 1024);
    await check('qwen35-gdn-16k', qwen35Model({ layers: 4, embd: 2048, state: 128, groups: 16, rank: 32 }), 16384, 512);
  });

  it('Mamba 2 (Nemotron-H / Granite 4 style layers): the projection, the convolution and the scan', async () => {
    await check('mamba2', mamba2Model({ layers: 4, embd: 2048, inner: 4096, state: 128, groups: 8, heads: 64 }), 4096, 512);
  });
});
