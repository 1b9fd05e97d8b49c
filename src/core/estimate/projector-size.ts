/**
 * What a multimodal projector takes on the GPU: its weights, and the compute buffer clip.cpp
 * reserves when it warms up on the largest input it plans for ("warmup with image size = N x N"):
 * tools/mtmd/clip.cpp sets the warm-up image per projector type (`set_warmup_n_tokens(t)`: a side
 * of √t tokens × patch size × merge), the other encoders warm up at their `image_size`. The image is
 * cut into `(side / patch_size)²` patches.
 *
 * With flash attention (clip.cpp turns it on where the GPU supports it) the peak is the encoder's
 * feed-forward block: the up-projection (`patches × n_ff` f32) beside the residual stream, the
 * normalised input and the attention output (`patches × n_embd` f32 each). Without it the
 * attention scores, `patches² × heads` f32, come on top. Qwen2.5-VL's windowed attention adds its
 * window mask, an input of `patches²` f32 (and its f16 copy with flash attention) alive through
 * every layer (tools/mtmd/models/qwen2vl.cpp).
 */
import type { EncoderShape, ProjectorModel } from './projector-model.ts';

const F32 = 4;
const F16 = 2;
/** The image side clip.cpp warms Qwen VL encoders up with when the file gives no merge size (46 tokens × 16 × 2). */
export const DYNAMIC_WARMUP_SIDE = 1472;

/** Warm-up tokens per side by projector type (clip.cpp `set_warmup_n_tokens`), and the merge it assumes when the file gives none. */
const WARMUP_TOKENS_PER_SIDE: Readonly<Record<string, { side: number; merge: number }>> = {
  qwen2vl_merger: { side: 46, merge: 2 },
  'qwen2.5vl_merger': { side: 46, merge: 2 },
  qwen3vl_merger: { side: 46, merge: 2 },
  glm4v: { side: 46, merge: 2 },
  mimovl: { side: 46, merge: 2 },
  dots_ocr: { side: 46, merge: 2 },
  pixtral: { side: 16, merge: 1 },
  lightonocr: { side: 16, merge: 1 },
  kimivl: { side: 16, merge: 2 },
  gemma4v: { side: 16, merge: 3 },
  phi4: { side: 16, merge: 1 },
  minimax_m3: { side: 16, merge: 1 },
  youtuvl: { side: 16, merge: 1 },
  paddleocr: { side: 28, merge: 2 },
};

/** The side of the warm-up image, in pixels. */
export function warmupSide(e: EncoderShape, projectorType: string | null): number {
  const known = projectorType ? WARMUP_TOKENS_PER_SIDE[projectorType] : undefined;
  if (known) return known.side * e.patchSize * (e.mergeSize || known.merge);
  return e.imageMaxPixels > 0 ? DYNAMIC_WARMUP_SIDE : e.imageSize;
}

export function encoderPatches(e: EncoderShape, projectorType: string | null = null): number {
  const side = warmupSide(e, projectorType);
  const perSide = e.patchSize > 0 ? Math.ceil(side / e.patchSize) : 0;
  return Math.max(1, perSide * perSide);
}

export function encoderComputeBytes(e: EncoderShape, flashAttention: boolean, projectorType: string | null = null): number {
  const patches = encoderPatches(e, projectorType);
  const feedForward = patches * F32 * (e.feedForwardLength + 3 * e.embeddingLength);
  const scores = flashAttention ? 0 : patches * patches * e.headCount * F32;
  const windowMask = projectorType === 'qwen2.5vl_merger' && e.windowAttentionPattern > 0 ? patches * patches * (F32 + (flashAttention ? F16 : 0)) : 0;
  return feedForward + scores + windowMask;
}

export function projectorComputeBytes(p: ProjectorModel, flashAttention: boolean): number {
  return Math.max(
    p.vision ? encoderComputeBytes(p.vision, flashAttention, p.projectorType) : 0,
    p.audio ? encoderComputeBytes(p.audio, flashAttention, p.projectorType) : 0,
  );
}

export function projectorBytes(p: ProjectorModel, flashAttention: boolean): number {
  return p.weightsBytes + projectorComputeBytes(p, flashAttention);
}
