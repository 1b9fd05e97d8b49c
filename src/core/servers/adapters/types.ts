/** What a model server says about itself, beside what NVML measures. */
import { UnreadableReply, type HttpOptions } from '../http.ts';
import type { ServerKind } from '../kinds/server-kind.ts';
import { errorMessage } from '../../errors.ts';

export interface ModelReport {
  name: string;
  /** VRAM the server says the model takes (Ollama's `size_vram`); null when it does not say. */
  vramBytes: number | null;
  contextLength: number | null;
}

export interface ServerReport {
  kind: ServerKind;
  /** Whether it answered at all. */
  reachable: boolean;
  /** Its health answer: true = ready; null = unknown (it answered, but not in the shape this server kind answers in). */
  healthy: boolean | null;
  models: ModelReport[];
  /** The server-wide context size (llama-server n_ctx, vLLM max_model_len); null when per model or unknown. */
  contextLength: number | null;
  /** vLLM sleep mode; null when not known. */
  sleeping: boolean | null;
  /** Why it could not be read; null when it could. */
  error: string | null;
}

export interface ServerAdapter {
  kind: ServerKind;
  report(baseUrl: string, options?: HttpOptions): Promise<ServerReport>;
}

/** A server that answers, but not healthy: `error` says what it answered. */
export function unhealthy(kind: ServerKind, error: string): ServerReport {
  return { kind, reachable: true, healthy: false, models: [], contextLength: null, sleeping: null, error };
}

export function unreachable(kind: ServerKind, error: unknown): ServerReport {
  return {
    kind,
    reachable: false,
    healthy: false,
    models: [],
    contextLength: null,
    sleeping: null,
    error: errorMessage(error),
  };
}

/** It answered, but the reply is not what this kind of server says: nothing in it is believed. */
export function unknownReply(kind: ServerKind, why: string): ServerReport {
  return { kind, reachable: true, healthy: null, models: [], contextLength: null, sleeping: null, error: why };
}

/** Runs an adapter's reads: a reply it cannot use makes the state unknown; no answer makes it unreachable. */
export async function readReport(kind: ServerKind, read: () => Promise<ServerReport>): Promise<ServerReport> {
  try {
    return await read();
  } catch (err) {
    return err instanceof UnreadableReply ? unknownReply(kind, err.message) : unreachable(kind, err);
  }
}

/** The notes about dropped figures, as the report's error (null when there are none). */
export const notesText = (notes: string[]): string | null => (notes.length ? notes.join('; ') : null);

/** The sum of what the server says its models take, or null when it says nothing. */
export function reportedVram(report: ServerReport): number | null {
  const known = report.models.map((m) => m.vramBytes).filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}
