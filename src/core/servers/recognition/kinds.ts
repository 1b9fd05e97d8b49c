/**
 * The registry of GPU process kinds, walked in order by the recogniser: the first kind that
 * recognises a process names it. The model servers' own kinds come first, from the registry of
 * server kinds (each server kind's file says how its processes are recognised); then the Python
 * processes that are not model servers, the desktop, and any other Python process last (vLLM and
 * faster-whisper come before it). A process kind that is no model server is one entry here and its file.
 */
import { SERVER_KIND_ENTRIES } from '../kinds/index.ts';
import { desktopProcess } from './desktop.ts';
import type { ProcessKind } from './process-kind.ts';
import { comfyUiProcess, nemoProcess, pythonProcess } from './python-kinds.ts';

export const PROCESS_KINDS: readonly ProcessKind[] = [
  ...SERVER_KIND_ENTRIES.flatMap((k) => k.processes),
  comfyUiProcess,
  nemoProcess,
  desktopProcess,
  pythonProcess,
];
