/**
 * The registry of GPU process kinds, walked in order by the recogniser: the first kind that
 * recognises a process names it. The more specific come first (vLLM and faster-whisper before any
 * Python process). Adding a kind is one entry here and its file.
 */
import { fasterWhisperProcess } from '../adapters/faster-whisper.ts';
import { llamaCppProcess, llamaServerProcess } from '../adapters/llama-server.ts';
import { ollamaProcess } from '../adapters/ollama.ts';
import { vllmProcess } from '../adapters/vllm.ts';
import { whisperCppProcess } from '../adapters/whisper-cpp.ts';
import { desktopProcess } from './desktop.ts';
import type { ProcessKind } from './process-kind.ts';
import { comfyUiProcess, nemoProcess, pythonProcess } from './python-kinds.ts';

export const PROCESS_KINDS: readonly ProcessKind[] = [
  llamaServerProcess,
  ollamaProcess,
  whisperCppProcess,
  llamaCppProcess,
  vllmProcess,
  fasterWhisperProcess,
  comfyUiProcess,
  nemoProcess,
  desktopProcess,
  pythonProcess,
];
