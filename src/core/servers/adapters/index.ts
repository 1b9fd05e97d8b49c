/** The adapter for each server kind (a plain `command` task has none). */
import type { ServerKind } from '../task-definition.ts';
import { fasterWhisperAdapter } from './faster-whisper.ts';
import { llamaServerAdapter } from './llama-server.ts';
import { ollamaAdapter } from './ollama.ts';
import type { ServerAdapter } from './types.ts';
import { vllmAdapter } from './vllm.ts';
import { whisperCppAdapter } from './whisper-cpp.ts';

const ADAPTERS: Partial<Record<ServerKind, ServerAdapter>> = {
  ollama: ollamaAdapter,
  'llama-server': llamaServerAdapter,
  vllm: vllmAdapter,
  'whisper-cpp': whisperCppAdapter,
  'faster-whisper': fasterWhisperAdapter,
};

export function adapterFor(kind: ServerKind | 'task'): ServerAdapter | null {
  return kind === 'task' ? null : (ADAPTERS[kind] ?? null);
}
