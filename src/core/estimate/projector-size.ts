/**
 * What a multimodal projector takes on the GPU: its weights, and the compute buffer clip.cpp
 * reserves for the largest input — for vision, an image of `image_size` pixels square cut into
 * `(image_size / patch_size)²` patches; the peak is the encoder's attention over all patches
 * (scores `patches² × heads` in f32) or its feed-forward block (`patches × n_ff` f32, twice),
 * beside the hidden states (`patches × n_embd` f32).
 */
import type { EncoderShape, ProjectorModel } from './projector-model.ts';

const F32 = 4;

export function encoderComputeBytes(e: EncoderShape): number {
  const side = e.patchSize > 0 ? Math.ceil(e.imageSize / e.patchSize) : 0;
  const patches = Math.max(1, side * side);
  const hidden = patches * e.embeddingLength * F32;
  const attention = patches * patches * e.headCount * F32 + 4 * hidden;
  const ff = 2 * patches * e.feedForwardLength * F32 + 2 * hidden;
  return Math.max(attention, ff);
}

export function projectorComputeBytes(p: ProjectorModel): number {
  return Math.max(p.vision ? encoderComputeBytes(p.vision) : 0, p.audio ? encoderComputeBytes(p.audio) : 0);
}

export function projectorBytes(p: ProjectorModel): number {
  return p.weightsBytes + projectorComputeBytes(p);
}
