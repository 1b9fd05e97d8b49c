/**
 * Who a process tree belongs to: read by the ledger (to name what uses the GPU) and by the server
 * registry (which lists them), so it sits below both.
 */
import type { ServerKind } from './task-definition.ts';

/** A process tree that belongs to something with a name (a task or a server). */
export interface Owner {
  name: string;
  /** The server kind, or "task" for an ordinary task. */
  kind: ServerKind | 'task';
  rootPid: number;
  baseUrl: string | null;
  /** The GPU it is meant to use; null when unknown (ordinary tasks). */
  gpu: number | null;
  /** What the VRAM gate expected it to take (its `needs` or the GGUF estimate); null when unknown. */
  expectedBytes?: number | null;
}
