/**
 * The llama.cpp settings that change how much memory a server takes, as one value: what the
 * argument parser produces from a task's command line (or Ollama's environment) and what the
 * estimate sizes. `null` means "not given": the estimate applies llama.cpp's own default and names
 * it in the assumptions it reports.
 */

/** Cache element types llama.cpp (`-ctk`/`-ctv`) and Ollama (`OLLAMA_KV_CACHE_TYPE`) accept. */
export const KV_CACHE_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q5_1', 'q5_0', 'q4_1', 'q4_0', 'iq4_nl'] as const;
export type KvCacheType = (typeof KV_CACHE_TYPES)[number];

export type FlashAttentionMode = 'on' | 'off' | 'auto';

export interface LlamaSettings {
  /** `-c`/`--ctx-size`; 0 or null = the model's training context (llama.cpp today), capped by `--fit`. */
  readonly contextTokens: number | null;
  /** `-np`/`--parallel`; null = llama-server's default. */
  readonly parallel: number | null;
  /** `-kvu`/`--kv-unified` (null = llama-server's default for the slot count). */
  readonly kvUnified: boolean | null;
  /** `-fa on|off|auto`; null = auto. */
  readonly flashAttention: FlashAttentionMode | null;
  /** `-ctk`/`--cache-type-k`, `-ctv`/`--cache-type-v`; null = f16. */
  readonly cacheTypeK: KvCacheType | null;
  readonly cacheTypeV: KvCacheType | null;
  /** `-b`/`--batch-size`, `-ub`/`--ubatch-size`; null = 2048 / 512. */
  readonly batchTokens: number | null;
  readonly ubatchTokens: number | null;
  /** `-ngl`/`--n-gpu-layers`: a layer count, 'all', or null = llama.cpp's default (auto/all). */
  readonly gpuLayers: number | 'all' | null;
  /**
   * `-ts`/`--tensor-split N0,N1,…`: each device's share of the layers (llama.cpp normalizes the
   * proportions; a device without an entry gets none). null: one device (llama.cpp would split by
   * free memory, which the estimate does not know).
   */
  readonly tensorSplit: readonly number[] | null;
  /** `-sm`/`--split-mode`: `layer` (default) splits whole layers; the others are not sized per device. */
  readonly splitMode: 'none' | 'layer' | 'row' | 'tensor' | null;
  /** `--n-cpu-moe N`: the expert tensors of the first N layers stay on the CPU. */
  readonly cpuMoeLayers: number | null;
  /** `-cmoe`/`--cpu-moe`: every expert tensor stays on the CPU. */
  readonly cpuMoeAll: boolean;
  /** `-ot PATTERN=BUFFER` / `--override-tensor`: each pattern (a regex) whose buffer is the CPU. */
  readonly cpuTensorPatterns: readonly string[];
  /** `--mmproj FILE` (absolute or relative to the task's cwd); `--no-mmproj-offload` keeps it on the CPU. */
  readonly projectorPath: string | null;
  readonly projectorOffload: boolean;
  /** `--swa-full`: full-size cache for sliding-window layers. */
  readonly swaFull: boolean;
  /**
   * `--op-offload` (the default) / `--no-op-offload`: whether the GPU runs the large-batch matrix
   * products of layers whose weights stay in host memory (so it reserves compute for them).
   */
  readonly opOffload: boolean;
  /** `--fit on|off` and `--fit-target` (bytes of free memory `--fit` leaves, per device); null = default. */
  readonly fit: boolean | null;
  readonly fitTargetBytes: number | null;
  /**
   * `--spec-type draft-mtp` (`LLAMA_ARG_SPEC_TYPE`): llama-server loads the model's
   * multi-token-prediction layers and runs them in a draft context of the main context's size, whose
   * cache takes `-ctkd`/`-ctvd` (f16 when not given, not the main cache's type). null: not asked.
   */
  readonly mtp: { readonly cacheTypeK: KvCacheType | null; readonly cacheTypeV: KvCacheType | null } | null;
  /** `-md`/`--model-draft` and its own `-ngld`, `-cd`, `-ctkd`, `-ctvd` where given. */
  readonly draft: {
    readonly modelPath: string;
    readonly gpuLayers: number | 'all' | null;
    readonly contextTokens: number | null;
    readonly cacheTypeK: KvCacheType | null;
    readonly cacheTypeV: KvCacheType | null;
  } | null;
}

/** Nothing given: every value llama.cpp's default. */
export const DEFAULT_LLAMA_SETTINGS: LlamaSettings = {
  contextTokens: null,
  parallel: null,
  kvUnified: null,
  flashAttention: null,
  cacheTypeK: null,
  cacheTypeV: null,
  batchTokens: null,
  ubatchTokens: null,
  gpuLayers: null,
  tensorSplit: null,
  splitMode: null,
  cpuMoeLayers: null,
  cpuMoeAll: false,
  cpuTensorPatterns: [],
  projectorPath: null,
  projectorOffload: true,
  swaFull: false,
  opOffload: true,
  fit: null,
  fitTargetBytes: null,
  mtp: null,
  draft: null,
};
