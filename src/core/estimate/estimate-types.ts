/**
 * What the estimate returns: the memory a llama.cpp server will take on one GPU, part by part, in
 * bytes, with the settings it assumed (after llama.cpp's defaults were applied) so that reports can
 * name them; or the reason there is no estimate.
 */
import type { FlashAttentionMode, KvCacheType } from './llama-settings.ts';

export interface EstimateParts {
  /** Weights on the GPU (token embedding on the CPU, offloaded layers/experts excluded). */
  readonly weightsBytes: number;
  /** KV cache on the GPU (all layers, SWA layers with their own cell count). */
  readonly kvCacheBytes: number;
  /** Recurrent state (Mamba/RWKV/hybrid layers) for every sequence. */
  readonly recurrentStateBytes: number;
  /** The compute buffer llama.cpp reserves on the GPU. */
  readonly computeBufferBytes: number;
  /** Vision/audio projector weights + its compute buffer on the GPU (0 without `--mmproj`). */
  readonly projectorBytes: number;
  /** Draft model (speculative decoding) weights + cache + compute on the GPU. */
  readonly draftBytes: number;
  /** CUDA context and runtime of the process. */
  readonly runtimeBytes: number;
}

/** The settings as the estimate applied them (every default resolved). */
export interface EstimateAssumptions {
  readonly contextTokens: number;
  readonly parallel: number;
  readonly kvUnified: boolean;
  readonly flashAttention: Exclude<FlashAttentionMode, 'auto'>;
  readonly cacheTypeK: KvCacheType;
  readonly cacheTypeV: KvCacheType;
  readonly ubatchTokens: number;
  readonly gpuLayers: number;
  readonly totalLayers: number;
  /** Plain sentences for what was decided ("no -c: the model's training context, 131072 tokens"). */
  readonly notes: readonly string[];
}

export interface VramEstimate {
  readonly kind: 'estimate';
  readonly modelPath: string;
  readonly architecture: string;
  readonly parts: EstimateParts;
  /** The sum of the parts. */
  readonly totalBytes: number;
  readonly assumptions: EstimateAssumptions;
  /**
   * With `-ts` over several devices (`-sm layer`): what each takes, in device order (the parts are
   * their sum, plus the runtime, projector and draft, which the estimate does not place per device).
   */
  readonly perGpu?: readonly GpuShare[];
}

export interface GpuShare {
  readonly weightsBytes: number;
  readonly kvCacheBytes: number;
  readonly computeBufferBytes: number;
  /** Repeating layers on the device, and whether it holds the output layer. */
  readonly layers: number;
  readonly outputLayer: boolean;
}

export interface NoEstimate {
  readonly kind: 'none';
  readonly modelPath: string;
  /** Why, in one sentence a user can act on. */
  readonly reason: string;
}

export type EstimateResult = VramEstimate | NoEstimate;
