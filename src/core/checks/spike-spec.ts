/**
 * What a VRAM budget spike runs: the servers to start, in order, each a `vram-guard` task definition
 * (command as an argument array, never a shell string) with the load request it gets; and the
 * timing (settle, samples, rounds, the fast sampling of the peak). Validation never throws: it
 * returns every problem, one sentence each.
 *
 * A spec file looks like:
 *
 *   { "settleSeconds": 10, "rounds": 3,
 *     "servers": [
 *       { "name": "whisper", "server": "whisper-cpp", "command": ["whisper-server"],
 *         "args": ["-m", "ggml-base.en.bin", "--port", "8081"], "port": 8081 },
 *       { "name": "ollama", "server": "ollama", "port": 11434, "load": { "model": "llama3.2:3b" } } ] }
 */
import { COMMAND_KIND, kindEntry } from '../servers/kinds/index.ts';
import { serverBaseUrl, validateTaskDefinition, type ServerKind, type ServerTaskDefinition } from '../servers/task-definition.ts';

/** The load a server gets: its kind's usual request, none, or a request the spec describes. */
export type SpikeLoad =
  | { kind: 'default'; model: string | null; prompt: string }
  | { kind: 'none' }
  | { kind: 'json'; path: string; body: unknown }
  | { kind: 'audio'; path: string; field: string; model: string | null };

export interface SpikeServer {
  name: string;
  task: ServerTaskDefinition;
  /** Scheme, host and port of its API; null when it has none (a plain command without a port). */
  baseUrl: string | null;
  load: SpikeLoad;
}

export interface SpikeTiming {
  /** Wait after each step before measuring (the model loads, the allocator settles). */
  settleMs: number;
  /** How many samples a measurement takes; the median is kept. */
  samples: number;
  /** Between those samples. */
  measureIntervalMs: number;
  /** Sampling interval while the load runs: at most 100 ms (10 Hz) so a short peak is caught. */
  peakIntervalMs: number;
  /** Rounds of concurrent load: each round sends one request to every server at once. */
  rounds: number;
  /** The load phase samples at least this long, and until every round has finished. */
  peakWindowMs: number;
  /** One load request may take this long. */
  requestTimeoutMs: number;
  /** SIGTERM → SIGKILL grace when the spike stops a server. */
  stopTimeoutMs: number;
}

export interface SpikeSpec {
  gpu: number;
  servers: SpikeServer[];
  timing: SpikeTiming;
  /** Leave the servers running after a complete spike (a cancelled or failed one always stops them). */
  leaveRunning: boolean;
}

export const DEFAULT_TIMING: SpikeTiming = {
  settleMs: 10_000,
  samples: 5,
  measureIntervalMs: 200,
  peakIntervalMs: 100,
  rounds: 3,
  peakWindowMs: 2_000,
  requestTimeoutMs: 120_000,
  stopTimeoutMs: 10_000,
};

export const DEFAULT_PROMPT = 'Write one sentence about graphics memory.';

/** Spec-file keys for the timing, with their unit, range and the field they set. */
const TIMING_KEYS = {
  settleSeconds: { field: 'settleMs', scale: 1000, min: 0, max: 3600, whole: false },
  samples: { field: 'samples', scale: 1, min: 1, max: 1000, whole: true },
  measureIntervalMs: { field: 'measureIntervalMs', scale: 1, min: 10, max: 60_000, whole: true },
  sampleIntervalMs: { field: 'peakIntervalMs', scale: 1, min: 10, max: 100, whole: true },
  rounds: { field: 'rounds', scale: 1, min: 1, max: 10_000, whole: true },
  peakWindowSeconds: { field: 'peakWindowMs', scale: 1000, min: 0, max: 3600, whole: false },
  requestTimeoutSeconds: { field: 'requestTimeoutMs', scale: 1000, min: 1, max: 3600, whole: false },
  stopTimeoutSeconds: { field: 'stopTimeoutMs', scale: 1000, min: 0.1, max: 600, whole: false },
} as const satisfies Record<string, { field: keyof SpikeTiming; scale: number; min: number; max: number; whole: boolean }>;

export type TimingKey = keyof typeof TIMING_KEYS;
export const TIMING_KEY_NAMES = Object.keys(TIMING_KEYS) as TimingKey[];

export type SpikeSpecResult = { ok: true; spec: SpikeSpec } | { ok: false; problems: string[] };

const SPEC_KEYS = new Set(['gpu', 'servers', 'leaveRunning', ...TIMING_KEY_NAMES]);
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Reads one timing value (`settleSeconds: 10`, ...); null with a problem when it is out of range. */
export function timingValue(key: TimingKey, value: unknown, where: string, problems: string[]): number | null {
  const k = TIMING_KEYS[key];
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < k.min || n > k.max || (k.whole && !Number.isInteger(n))) {
    problems.push(`${where}"${key}" must be ${k.whole ? 'a whole number' : 'a number'} from ${k.min} to ${k.max}, got ${JSON.stringify(value)}.`);
    return null;
  }
  return Math.round(n * k.scale);
}

/** Sets `timing` from the timing keys present in `raw`. */
export function applyTiming(timing: SpikeTiming, raw: Record<string, unknown>, where: string, problems: string[]): SpikeTiming {
  const out = { ...timing };
  for (const key of TIMING_KEY_NAMES) {
    if (raw[key] === undefined) continue;
    const v = timingValue(key, raw[key], where, problems);
    if (v !== null) out[TIMING_KEYS[key].field] = v;
  }
  return out;
}

/** Validates a whole spec (a spec file's JSON). */
export function validateSpikeSpec(raw: unknown, where = 'The spike spec'): SpikeSpecResult {
  if (!isObject(raw)) return { ok: false, problems: [`${where} must be a JSON object with "servers": [...].`] };
  const problems: string[] = [];
  const unknown = Object.keys(raw).filter((k) => !SPEC_KEYS.has(k));
  if (unknown.length)
    problems.push(
      `${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; the keys are ${[...SPEC_KEYS].join(', ')}.`,
    );
  const timing = applyTiming(DEFAULT_TIMING, raw, `${where}: `, problems);
  const gpu = raw.gpu ?? 0;
  if (typeof gpu !== 'number' || !Number.isInteger(gpu) || gpu < 0)
    problems.push(`${where}: "gpu" must be a GPU index (0, 1, ...), got ${JSON.stringify(raw.gpu)}.`);
  const leave = raw.leaveRunning ?? false;
  if (typeof leave !== 'boolean') problems.push(`${where}: "leaveRunning" must be true or false.`);
  const list = raw.servers;
  let servers: SpikeServer[] = [];
  if (!Array.isArray(list) || !list.length) problems.push(`${where}: "servers" must be a non-empty list of servers, in the order they start.`);
  else {
    const r = validateSpikeServers(list);
    if (r.ok) servers = r.servers;
    else problems.push(...r.problems);
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, spec: { gpu: gpu as number, servers, timing, leaveRunning: leave as boolean } };
}

/** Validates the servers, in order; names must be unique. */
export function validateSpikeServers(list: readonly unknown[]): { ok: true; servers: SpikeServer[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const servers: SpikeServer[] = [];
  const names = new Set<string>();
  list.forEach((entry, i) => {
    const r = validateSpikeServer(entry, i);
    if (!r.ok) {
      problems.push(...r.problems);
      return;
    }
    if (names.has(r.server.name)) problems.push(`Two servers are named "${r.server.name}": give each a different "name".`);
    names.add(r.server.name);
    servers.push(r.server);
  });
  return problems.length ? { ok: false, problems } : { ok: true, servers };
}

/**
 * One server: the fields of a `vram-guard` task definition (`server`, `command`, `args`, `env`,
 * `cwd`, `port`, `healthUrl`, `startTimeoutSeconds`) plus `name` and `load`.
 */
export function validateSpikeServer(raw: unknown, index: number): { ok: true; server: SpikeServer } | { ok: false; problems: string[] } {
  if (!isObject(raw)) return { ok: false, problems: [`Server ${index + 1} must be an object such as { "name": "llm", "server": "ollama", "port": 11434 }.`] };
  const { name: rawName, load: rawLoad, ...definition } = raw;
  const kindText = typeof definition.server === 'string' ? definition.server : null;
  const name = typeof rawName === 'string' && rawName.trim() ? rawName.trim() : `${kindText ?? 'server'} ${index + 1}`;
  if (rawName !== undefined && (typeof rawName !== 'string' || !rawName.trim()))
    return { ok: false, problems: [`Server ${index + 1}: "name" must be a non-empty string.`] };
  const v = validateTaskDefinition(definition, name);
  const problems = v.ok ? [] : [...v.problems];
  const kind: ServerKind = v.ok ? v.task.server : COMMAND_KIND;
  const load = parseLoad(rawLoad, kind, name, v.ok ? v.task.fallback.model : null, problems);
  if (!v.ok || problems.length || !load) return { ok: false, problems };
  return { ok: true, server: fromTask(v.task, load) };
}

/** A spike server from a validated task (VS Code's `vram-guard` tasks) and its load. */
export function fromTask(task: ServerTaskDefinition, load: SpikeLoad): SpikeServer {
  return { name: task.name, task, baseUrl: serverBaseUrl(task), load };
}

/** The load a task gets when the spec says nothing: its kind's request, with the task's Ollama model. */
export function defaultLoad(task: ServerTaskDefinition): SpikeLoad | { problem: string } {
  const problems: string[] = [];
  const load = parseLoad(undefined, task.server, task.name, task.fallback.model, problems);
  return load ?? { problem: problems.join(' ') };
}

function parseLoad(value: unknown, kind: ServerKind, name: string, taskModel: string | null, problems: string[]): SpikeLoad | null {
  const at = (field: string) => `Server "${name}": "load${field ? `.${field}` : ''}"`;
  if (value === 'none') return { kind: 'none' };
  if (value !== undefined && value !== 'default' && !isObject(value)) {
    problems.push(
      `${at('')} must be "default", "none" or an object such as { "model": "llama3.2:3b", "prompt": "..." } or { "path": "/completion", "body": { ... } }.`,
    );
    return null;
  }
  const o = isObject(value) ? value : {};
  const known = ['model', 'prompt', 'path', 'body', 'audioField'];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length)
    problems.push(`${at('')}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; the keys are ${known.join(', ')}.`);
  const text = (field: string): string | null => {
    const v = o[field];
    if (v === undefined) return null;
    if (typeof v !== 'string' || !v) {
      problems.push(`${at(field)} must be a non-empty string.`);
      return null;
    }
    return v;
  };
  const model = text('model') ?? taskModel;
  const prompt = text('prompt') ?? DEFAULT_PROMPT;
  const path = text('path');
  const audioField = text('audioField');
  if (path !== null && !path.startsWith('/')) problems.push(`${at('path')} must start with "/", such as "/completion".`);
  if (audioField !== null && path === null) problems.push(`${at('audioField')} needs "path" too (the request that takes the audio file).`);
  if (o.body !== undefined && path === null) problems.push(`${at('body')} needs "path" too (where the body is sent).`);
  if (problems.length) return null;
  if (path !== null) return audioField !== null ? { kind: 'audio', path, field: audioField, model } : { kind: 'json', path, body: o.body ?? {} };
  const spike = kindEntry(kind).spike;
  if (!spike) {
    if (isObject(value)) {
      problems.push(
        `Server "${name}" (${kind}): a plain command has no usual request; give one with "load": { "path": "/generate", "body": { ... } }, or leave "load" out for none.`,
      );
      return null;
    }
    return { kind: 'none' };
  }
  if (spike.needsModel && !model) {
    problems.push(`Server "${name}" (${kind}): ${spike.needsModel.ask}`);
    return null;
  }
  return { kind: 'default', model, prompt };
}
