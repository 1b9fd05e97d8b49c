/** What a model server says about itself, beside what NVML measures. */
import type { HttpOptions } from '../http.ts';
import type { ServerKind } from '../task-definition.ts';

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
  /** Its health answer: true = ready. */
  healthy: boolean;
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

export function unreachable(kind: ServerKind, error: unknown): ServerReport {
  return { kind, reachable: false, healthy: false, models: [], contextLength: null, sleeping: null, error: error instanceof Error ? error.message : String(error) };
}

/** The sum of what the server says its models take, or null when it says nothing. */
export function reportedVram(report: ServerReport): number | null {
  const known = report.models.map((m) => m.vramBytes).filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}
