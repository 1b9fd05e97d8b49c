/**
 * The registry of model-server kinds: one entry per kind, each in its own file. The order is the
 * one task definitions list them in (package.json's "server" enum). Everything that depends on a
 * kind reads its entry: the task defaults and validation, the adapters, process recognition, the
 * fallback steps, the gate's sizing and the spike's load. Adding a kind is its file, one line here,
 * and its test.
 */
import { commandKind } from './command.ts';
import { fasterWhisperKind } from './faster-whisper.ts';
import type { KindSizing, ServerKind, ServerKindEntry } from './kind-entry.ts';
import { llamaCppSizing, llamaServerKind } from './llama-server.ts';
import { ollamaKind } from './ollama.ts';
import { vllmKind } from './vllm.ts';
import { whisperCppKind } from './whisper-cpp.ts';

export type { ServerKind, ServerKindEntry } from './kind-entry.ts';

export const SERVER_KIND_ENTRIES: readonly ServerKindEntry[] = [llamaServerKind, ollamaKind, vllmKind, whisperCppKind, fasterWhisperKind, commandKind];

export const SERVER_KINDS: readonly ServerKind[] = SERVER_KIND_ENTRIES.map((k) => k.id);

/** The kind every task falls back to: any program, nothing known about it. */
export const COMMAND_KIND: ServerKind = commandKind.id;

/** The kind whose command line the gate sizes (a GGUF model under llama.cpp): the CLI's and the editor's model checks speak it. */
export const GGUF_SERVER_KIND: ServerKind = llamaServerKind.id;

/** The executable of that kind a shell runs by default (where llama.cpp's own tools sit beside it). */
export const GGUF_SERVER_EXECUTABLE: string = llamaServerKind.defaults.command?.[0] ?? llamaServerKind.id;

/** How a kind without sizing of its own is sized when its task names a model file. */
export const GGUF_SIZING: KindSizing = llamaCppSizing;

const BY_ID = new Map<unknown, ServerKindEntry>(SERVER_KIND_ENTRIES.map((k) => [k.id, k]));

export function isServerKind(value: unknown): value is ServerKind {
  return BY_ID.has(value);
}

/** The entry of a kind; null for anything that is not one. */
export function serverKindEntry(kind: unknown): ServerKindEntry | null {
  return BY_ID.get(kind) ?? null;
}

/** The entry of a kind known to be one. */
export function kindEntry(kind: ServerKind): ServerKindEntry {
  return BY_ID.get(kind) as ServerKindEntry;
}

/** The kinds a step target names: the kind itself, or each kind of a family ("whisper": both Whisper servers). */
export function kindsNamedBy(target: string): ServerKind[] {
  const family = SERVER_KIND_ENTRIES.filter((k) => k.family === target).map((k) => k.id);
  return family.length ? family : SERVER_KIND_ENTRIES.filter((k) => k.id === target).map((k) => k.id);
}

/** Whether a step target names a server of `kind` ("whisper" names both Whisper servers). */
export function targetNamesKind(target: string, kind: string | null): boolean {
  if (kind === null) return false;
  return target === kind || serverKindEntry(kind)?.family === target;
}

/** The kinds the gate sizes from a model (llama-server, Ollama): what the CLI's `--server` accepts. */
export const SIZED_KINDS: readonly ServerKindEntry[] = SERVER_KIND_ENTRIES.filter((k) => k.sizing !== null);
