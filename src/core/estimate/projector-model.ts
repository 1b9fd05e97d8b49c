/**
 * A multimodal projector (`--mmproj FILE`, llama.cpp tools/mtmd/clip.cpp): a CLIP-style vision
 * (and/or audio) encoder in its own GGUF, `general.architecture = clip`. llama.cpp puts all of its
 * tensors on the GPU unless `--no-mmproj-offload`, and reserves a compute buffer for the largest
 * image it accepts: the encoder's attention over every patch of that image.
 */
import { readGgufHeader, type GgufValue } from './gguf-header-reader.ts';
import { tensorDataBytes } from './ggml-types.ts';
import type { NoEstimate } from './estimate-types.ts';

export interface ProjectorModel {
  readonly kind: 'projector';
  readonly path: string;
  readonly projectorType: string | null;
  readonly weightsBytes: number;
  /** The vision encoder, when there is one. */
  readonly vision: EncoderShape | null;
  readonly audio: EncoderShape | null;
}

export interface EncoderShape {
  readonly layers: number;
  readonly embeddingLength: number;
  readonly feedForwardLength: number;
  readonly headCount: number;
  /** Vision: image size (pixels, square) and patch size. */
  readonly imageSize: number;
  readonly patchSize: number;
  readonly projectionDim: number;
  /** Dynamic-resolution encoders (Qwen VL): the most pixels an image may have; 0 = fixed size. */
  readonly imageMaxPixels: number;
  /** Patches merged per side into one token (`spatial_merge_size`, or the projector's scale factor); 0 when the file gives none. */
  readonly mergeSize: number;
  /** Qwen2.5-VL: every n-th layer has full attention, the others windowed (`n_wa_pattern`); 0 = none. */
  readonly windowAttentionPattern: number;
}

const num = (v: GgufValue | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export async function readProjector(path: string): Promise<ProjectorModel | NoEstimate> {
  try {
    const h = await readGgufHeader(path);
    if (!h.ok) return { kind: 'none', modelPath: path, reason: h.reason };
    const md = h.header.metadata;
    if (md.get('general.architecture') !== 'clip')
      return {
        kind: 'none',
        modelPath: path,
        reason: `${path} is not a multimodal projector (general.architecture is ${JSON.stringify(md.get('general.architecture'))}, not "clip").`,
      };
    let weightsBytes = 0;
    for (const t of h.header.tensors) {
      const b = tensorDataBytes(t.type, t.shape);
      if (b === null)
        return { kind: 'none', modelPath: path, reason: `projector tensor "${t.name}" has ggml type ${t.type}, which VRAM Guard does not know the size of.` };
      weightsBytes += b;
    }
    const encoder = (prefix: string): EncoderShape | null => {
      const layers = num(md.get(`${prefix}.block_count`));
      if (layers <= 0) return null;
      return {
        layers,
        embeddingLength: num(md.get(`${prefix}.embedding_length`)),
        feedForwardLength: num(md.get(`${prefix}.feed_forward_length`)),
        headCount: num(md.get(`${prefix}.attention.head_count`)),
        imageSize: num(md.get(`${prefix}.image_size`)),
        patchSize: num(md.get(`${prefix}.patch_size`)),
        projectionDim: num(md.get(`${prefix}.projection_dim`)),
        imageMaxPixels: num(md.get(`${prefix}.image_max_pixels`)),
        mergeSize: num(md.get(`${prefix}.spatial_merge_size`)) || num(md.get(`${prefix}.projector.scale_factor`)),
        windowAttentionPattern: num(md.get(`${prefix}.n_wa_pattern`)),
      };
    };
    const type = md.get('clip.projector_type') ?? md.get('clip.vision.projector_type');
    return {
      kind: 'projector',
      path,
      projectorType: typeof type === 'string' ? type : null,
      weightsBytes,
      vision: encoder('clip.vision'),
      audio: encoder('clip.audio'),
    };
  } catch (err) {
    return { kind: 'none', modelPath: path, reason: `${path} could not be read: ${(err as Error).message}.` };
  }
}
