/**
 * What a multimodal projector takes on the GPU: its weights, and the compute buffer clip.cpp
 * reserves when it warms up on the largest input it plans for. For vision that is an image of
 * `image_size` pixels square, or 1472 × 1472 for the dynamic-resolution encoders (Qwen VL), which
 * clip.cpp prints as "warmup with image size = 1472 x 1472"; the image is cut into
 * `(side / patch_size)²` patches.
 *
 * With flash attention (clip.cpp turns it on where the GPU supports it) the peak is the encoder's
 * feed-forward block: the up-projection (`patches × n_ff` f32) beside the residual stream, the
 * normalised input and the attention output (`patches × n_embd` f32 each). Without it the
 * attention scores, `patches² × heads` f32, come on top.
 */
import type { EncoderShape, ProjectorModel } from './projector-model.ts';

const F32 = 4;
/** The image side clip.cpp warms dynamic-resolution encoders up with. */
export const DYNAMIC_WARMUP_SIDE = 1472;

export function encoderPatches(e: EncoderShape): number {
  const side = e.imageMaxPixels > 0 ? DYNAMIC_WARMUP_SIDE : e.imageSize;
  const perSide = e.patchSize > 0 ? Math.ceil(side / e.patchSize) : 0;
  return Math.max(1, perSide * perSide);
}

export function encoderComputeBytes(e: EncoderShape, flashAttention: boolean): number {
  const patches = encoderPatches(e);
  const feedForward = patches * F32 * (e.feedForwardLength + 3 * e.embeddingLength);
  const scores = flashAttention ? 0 : patches * patches * e.headCount * F32;
  return feedForward + scores;
}

export function projectorComputeBytes(p: ProjectorModel, flashAttention: boolean): number {
  return Math.max(p.vision ? encoderComputeBytes(p.vision, flashAttention) : 0, p.audio ? encoderComputeBytes(p.audio, flashAttention) : 0);
}

export function projectorBytes(p: ProjectorModel, flashAttention: boolean): number {
  return p.weightsBytes + projectorComputeBytes(p, flashAttention);
}
