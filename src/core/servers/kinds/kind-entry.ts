/**
 * One model-server kind, whole, in one file of this folder: its task defaults, the adapter that
 * reads its API, how its process is recognised in /proc, the fallback steps it can do through its
 * own API (on a task's server and on one started outside VRAM Guard), how the gate sizes it, and
 * the request a budget spike sends it. The registry (index.ts) lists the entries; everything else
 * reads them. Each kind's file declares its id for `ServerKind` (server-kind.ts).
 */
import type { ServerFlavour } from '../../estimate/fit-advice.ts';
import type { ServerAdapter } from '../adapters/types.ts';
import type { HttpOptions } from '../http.ts';
import type { SystemdUnit } from '../recognition/proc-facts.ts';
import type { ProcessKind } from '../recognition/process-kind.ts';

import type { ServerKind } from './server-kind.ts';

export type { ServerKind } from './server-kind.ts';

/** What a task of this kind gets when it does not say. */
export interface KindDefaults {
  command: string[] | null;
  port: number | null;
  healthPath: string | null;
  /** The argument that sets the context size, for `reduceContext` by restart. */
  contextArg: string | null;
  cpuArgs: string[];
  cpuEnv: Record<string, string>;
}

/** What a fallback step would do, or why it cannot (the same shape as the chain's `Plan`). */
export type StepPlan = { ok: true; target: string; description: string; run: () => Promise<string> } | { ok: false; target: string | null; reason: string };

/** A step on a running task's server, through the server's own API. */
export interface TaskStep {
  /** The task's name. */
  name: string;
  /** Its API's base URL. */
  base: string;
  http: HttpOptions;
  /** The model the step names; null: any. */
  model: string | null;
  fallback: { contextSizes: number[]; model: string | null; sleepLevel: 1 | 2 | null };
}

/** A server started outside VRAM Guard, as recognised from /proc. */
export interface OutsideServer {
  pid: number;
  kind: string;
  role: string | null;
  model: string | null;
  ports: number[];
  unit: SystemdUnit | null;
}

/** A step on servers started outside VRAM Guard. */
export interface OutsideStep {
  /** The model the step names; null: any. */
  model: string | null;
  /** For questions (a short timeout). */
  http: HttpOptions;
  /** For the step itself (the fetch only: an unload takes its own time). */
  fetch: typeof fetch | undefined;
  /** Ollama URLs from the user's own settings (read when asked). */
  ollamaUrls(): string[];
  /** "ollama (PID 812, ollama.service)". */
  describe(r: OutsideServer): string;
}

/** The fallback steps a kind does through its API; what every task can do (restart with other arguments, stop) is not here. */
export interface KindFallback {
  /** Reduces the context without a restart (Ollama reloads the model); absent: a restart with the context argument. */
  reduceContext?(step: TaskStep): Promise<StepPlan>;
  /** Unloads the model from a running task's server; absent: it cannot. */
  unloadModel?(step: TaskStep): Promise<StepPlan>;
  /** Unloading from servers of this kind started outside VRAM Guard: one attempt each, tried in turn; absent: it cannot. */
  unloadOutside?: { from: string; attempts(found: OutsideServer[], step: OutsideStep): Array<() => Promise<StepPlan>> };
  /**
   * What a person changes to give a server of this kind started outside VRAM Guard a smaller
   * context or the CPU (VRAM Guard changes the arguments only of the servers it starts).
   */
  outsideAdvice?: { reduceContext?: string; moveToCpu?: string };
}

/** How the gate sizes a server of this kind from a model. */
export interface KindSizing {
  /** Whose flags the fit advice speaks. */
  flavour: ServerFlavour;
  /** The task's arguments are the server's own (llama-server): it is sized from them; else from the model and its context. */
  readsArgs: boolean;
  /** Where its settings come from, for the report ("Ollama's environment"); null: the caller says. */
  from: string | null;
  /** Whether its arguments or one of the environments (inherited, the task's) name a model (readsArgs only). */
  namesModel?(args: readonly string[], envs: ReadonlyArray<Readonly<Record<string, string | undefined>>>): boolean;
  /** A task's arguments checked now, as the server would; the error sentence, or whether they name the model. */
  checkArgs?(args: readonly string[], env: Readonly<Record<string, string | undefined>>): { ok: true; namesModel: boolean } | { ok: false; error: string };
  /** Where its settings are given instead of arguments, for the CLI's usage errors (not readsArgs). */
  settings?: { summary: string; list: string };
}

/** The request a budget spike sends. */
export type SpikeRequest = { path: string; json: unknown } | { path: string; audioField: string; fields: Record<string, string> };

/** How a budget spike loads a server of this kind. */
export interface KindSpike {
  request(load: { model: string | null; prompt: string }): SpikeRequest;
  /** The request needs a model: the sentence that asks for one (after `Server "NAME" (kind): `) and an example; null: it does not. */
  needsModel: { ask: string; example: string } | null;
  /** Asks a running server for its model when none was named (vLLM serves one). */
  askModel?(base: string, fetchFn: typeof fetch, signal: AbortSignal): Promise<string>;
}

export interface ServerKindEntry {
  id: ServerKind;
  /** A few words for people: "llama.cpp server". */
  label: string;
  /** A step target that names this kind with others ("whisper": both Whisper servers); null: none. */
  family: string | null;
  defaults: KindDefaults;
  /** Reads what the server says about itself; null: it has no API VRAM Guard reads. */
  adapter: ServerAdapter | null;
  /** How its processes are recognised in /proc, the most specific first. */
  processes: readonly ProcessKind[];
  /** Fills the environment of a task of this kind from its port (Ollama listens where OLLAMA_HOST says). */
  taskEnv?(port: number, env: Record<string, string>): void;
  fallback: KindFallback;
  /** null: sized only from "needs", or as a GGUF file under llama.cpp when the task names a model. */
  sizing: KindSizing | null;
  /** null: no usual request (the spike sends none unless the spec gives one). */
  spike: KindSpike | null;
}
