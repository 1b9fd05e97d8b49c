/**
 * The projector's warm-up compute per projector type, by clip.cpp's rules (tools/mtmd/clip.cpp
 * `set_warmup_n_tokens`, tools/mtmd/models/qwen2vl.cpp): the warm-up image side is √tokens × patch ×
 * merge, and Qwen2.5-VL's windowed attention keeps a patches² mask for the whole encoder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readProjector, type ProjectorModel } from '../../../src/core/estimate/projector-model.ts';
import { encoderPatches, projectorComputeBytes, warmupSide } from '../../../src/core/estimate/projector-size.ts';
import { writeGguf } from '../../helpers/gguf-fixtures.ts';
import { visionProjector, type VisionProjectorSpec } from '../../helpers/truth-models.ts';

async function projector(name: string, spec: VisionProjectorSpec, extra: Record<string, number> = {}): Promise<ProjectorModel> {
  const fixture = visionProjector(spec);
  const path = await writeGguf(name, { ...fixture, metadata: { ...fixture.metadata, ...extra } }, { sparse: true });
  const p = await readProjector(path);
  assert.equal(p.kind, 'projector');
  return p as ProjectorModel;
}

// Qwen2.5-VL 7B's vision tower as its mmproj declares it: 32 blocks of 1280, patch 14, 2×2 merge, full attention every 8th block.
const QWEN25_VL: VisionProjectorSpec = {
  projectorType: 'qwen2.5vl_merger',
  layers: 32,
  embd: 1280,
  ff: 3420,
  heads: 16,
  imageSize: 560,
  patchSize: 14,
  projectionDim: 3584,
  merge: 2,
  imageMaxPixels: 4096 * 14 * 14 * 4,
};

describe('projector warm-up per projector type', () => {
  it('Qwen2.5-VL (patch 14) warms up at 46 tokens × 14 × 2 = 1288 pixels a side, not 1472', async () => {
    const p = await projector('proj-qwen25vl', QWEN25_VL, { 'clip.vision.n_wa_pattern': 8 });
    assert.equal(warmupSide(p.vision!, p.projectorType), 1288);
    assert.equal(encoderPatches(p.vision!, p.projectorType), 92 * 92);
  });

  it("Qwen2.5-VL's window mask (patches² f32, and its f16 copy with flash attention) comes on top of the feed-forward peak", async () => {
    const windowed = await projector('proj-qwen25vl-wa', QWEN25_VL, { 'clip.vision.n_wa_pattern': 8 });
    const full = await projector('proj-qwen25vl-nowa', QWEN25_VL);
    const patches = 92 * 92;
    assert.equal(projectorComputeBytes(windowed, true) - projectorComputeBytes(full, true), patches * patches * (4 + 2));
    assert.equal(projectorComputeBytes(windowed, false) - projectorComputeBytes(full, false), patches * patches * 4);
  });

  it('Qwen3-VL (patch 16) keeps the 1472-pixel warm-up its published logs print', async () => {
    const p = await projector('proj-qwen3vl', { ...QWEN25_VL, projectorType: 'qwen3vl_merger', patchSize: 16, imageSize: 768 });
    assert.equal(warmupSide(p.vision!, p.projectorType), 1472);
  });
});
