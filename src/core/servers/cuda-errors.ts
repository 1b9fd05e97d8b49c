/**
 * The error lines a GPU model server prints when CUDA (or ROCm) fails, with where each comes from
 * in the servers' sources. A line that holds any of them counts once; the cascade detector
 * (cascade-detector.ts) watches how fast they come.
 */

export interface CudaErrorPattern {
  /** The text looked for, as printed (case as printed). */
  text: string;
  /** Where it comes from. */
  origin: string;
}

export const CUDA_ERROR_PATTERNS: readonly CudaErrorPattern[] = [
  {
    text: 'CUDA error',
    origin:
      'ggml/src/ggml-cuda/ggml-cuda.cu, ggml_cuda_error(): GGML_CUDA_NAME " error: %s" (llama.cpp, whisper.cpp, Ollama); PyTorch c10/cuda/CUDAException "CUDA error: …"',
  },
  { text: 'ROCm error', origin: 'ggml_cuda_error() built for AMD (GGML_USE_HIP: GGML_CUDA_NAME is "ROCm")' },
  {
    text: 'cudaMalloc failed',
    origin: 'ggml-cuda.cu, ggml_backend_cuda_buffer_type_alloc_buffer(): "allocating %.2f MiB on device %d: cudaMalloc failed: %s"',
  },
  { text: 'failed to allocate CUDA', origin: 'ggml/src/ggml-alloc.c, ggml_gallocr_reserve_n(): "failed to allocate %s buffer of size %zu" (buffer CUDA0 …)' },
  { text: 'CUDA out of memory', origin: 'PyTorch c10/cuda/CUDACachingAllocator.cpp: "CUDA out of memory. Tried to allocate …" (vLLM, NeMo, ComfyUI)' },
  { text: 'CUDA failed with error', origin: 'CTranslate2 src/cuda/utils.h: "CUDA failed with error " + cudaGetErrorString() (faster-whisper)' },
  { text: 'out of memory', origin: 'cudaGetErrorString(cudaErrorMemoryAllocation), as the lines above print it' },
  { text: 'unspecified launch failure', origin: 'cudaGetErrorString(cudaErrorLaunchFailure): the cascade of the NeMo speech daemon in the field notes' },
  { text: 'an illegal memory access was encountered', origin: 'cudaGetErrorString(cudaErrorIllegalAddress)' },
  { text: 'CUBLAS_STATUS_', origin: "cuBLAS status names: ggml-cuda's cublas_get_error_str(), PyTorch's CUDABlas (CUBLAS_STATUS_ALLOC_FAILED …)" },
  { text: 'CUDNN_STATUS_', origin: 'cuDNN status names (PyTorch, CTranslate2)' },
];

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One expression for every pattern (global: scanned with lastIndex). */
export function patternExpression(patterns: readonly CudaErrorPattern[] = CUDA_ERROR_PATTERNS): RegExp {
  return new RegExp(patterns.map((p) => escapeRegExp(p.text)).join('|'), 'g');
}

export const LONGEST_PATTERN = Math.max(...CUDA_ERROR_PATTERNS.map((p) => p.text.length));
