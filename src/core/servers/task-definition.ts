/**
 * The `vram-guard` task type: what a task definition may say and its validation; the defaults per
 * server kind (command, port, health path, the context argument, the CPU switch) are its kind's
 * entry's (kinds/). Validation never throws: it returns every problem, one sentence each, so the
 * task's terminal can show them all.
 */
import { parseSteps, type FallbackStep } from './fallback-steps.ts';
import { parseSize } from '../units.ts';
import { COMMAND_KIND, GGUF_SERVER_KIND, kindEntry, serverKindEntry, SERVER_KINDS, type ServerKind } from './kinds/index.ts';

export { SERVER_KINDS, type ServerKind } from './kinds/index.ts';
export const TASK_TYPE = 'vram-guard';

/** How a task can shrink: the context argument and sizes to step through, the CPU switch, the steps. */
export interface TaskFallback {
  contextArg: string | null;
  /** Sizes to step through, largest first (llama-server `-c`, vLLM `--max-model-len`, Ollama `num_ctx`). */
  contextSizes: number[];
  cpuArgs: string[];
  cpuEnv: Record<string, string>;
  /** Ollama: the model to reload or unload; null: every loaded model. */
  model: string | null;
  /** vLLM: sleep level for `unloadModel` (needs --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1); null: not enabled. */
  sleepLevel: 1 | 2 | null;
  steps: FallbackStep[];
}

export interface ServerTaskDefinition {
  /** The task's label: how fallback steps and the UI name it. */
  name: string;
  server: ServerKind;
  /** Program and its fixed arguments; `args` follow. */
  command: string[];
  args: string[];
  env: Record<string, string>;
  cwd: string | null;
  port: number | null;
  /** Polled until it answers 200; null: ready as soon as the process runs. */
  healthUrl: string | null;
  /** Expected VRAM in bytes; null when unknown. */
  needsBytes: number | null;
  /** A model file to estimate from when `needs` is not given. */
  model: string | null;
  exclusive: boolean;
  gpu: number;
  startTimeoutSeconds: number;
  fallback: TaskFallback;
  /** `"restart": "on-failure"`: started again after a failure (backoff, at most `maxRestartsPerHour`, the gate first). */
  restart: TaskRestart;
  /** llama-server only: started at the verbosity that prints llama.cpp's load report, which is kept beside the measurement. */
  loadReport: boolean;
}

export interface TaskRestart {
  onFailure: boolean;
  maxPerHour: number;
}

/** At most this many restarts an hour unless the task says otherwise (as `vram-guard run --max-restarts`). */
export const DEFAULT_MAX_RESTARTS_PER_HOUR = 10;

export type ValidationResult = { ok: true; task: ServerTaskDefinition; warnings: string[] } | { ok: false; problems: string[] };

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Validates a task definition (as written in tasks.json). `name` is the task's label. */
export function validateTaskDefinition(raw: unknown, name: string): ValidationResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, problems: ['The task definition must be an object with "type": "vram-guard" and a "server".'] };
  const d = raw as Record<string, unknown>;
  const at = (field: string) => `Task "${name}": "${field}"`;

  const server = d.server;
  const entry = serverKindEntry(server) ?? kindEntry(COMMAND_KIND);
  if (!serverKindEntry(server)) problems.push(`${at('server')} must be one of ${SERVER_KINDS.join(', ')}, got ${JSON.stringify(server)}.`);
  const kind = entry.id;
  const defaults = entry.defaults;

  let command = defaults.command;
  if (d.command !== undefined) {
    if (typeof d.command === 'string') {
      problems.push(
        `${at('command')} must be an array such as ["llama-server"] or ["node", "server.js"]: a single string would need a shell, which VRAM Guard never uses. Split it into the program and its arguments.`,
      );
    } else if (!strings(d.command) || !d.command.length) problems.push(`${at('command')} must be a non-empty array of strings.`);
    else command = d.command;
  } else if (!command) problems.push(`${at('command')} is required for server "${kind}" (for example ["python3", "-m", "my_server"]).`);

  let args: string[] = [];
  if (d.args !== undefined) {
    if (typeof d.args === 'string')
      problems.push(`${at('args')} must be an array of strings, one per argument (["-m", "model.gguf", "-c", "4096"]), not one string.`);
    else if (!strings(d.args)) problems.push(`${at('args')} must be an array of strings.`);
    else args = d.args;
  }

  const env: Record<string, string> = {};
  if (d.env !== undefined) {
    if (!d.env || typeof d.env !== 'object' || Array.isArray(d.env))
      problems.push(`${at('env')} must be an object of strings, e.g. { "OLLAMA_KEEP_ALIVE": "5m" }.`);
    else
      for (const [k, v] of Object.entries(d.env as Record<string, unknown>)) {
        if (typeof v === 'string') env[k] = v;
        else problems.push(`${at(`env.${k}`)} must be a string, got ${JSON.stringify(v)}.`);
      }
  }

  let port = defaults.port;
  if (d.port !== undefined) {
    const p = d.port;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535)
      problems.push(`${at('port')} must be a port number from 1 to 65535, got ${JSON.stringify(p)}.`);
    else port = p;
  }

  let healthUrl: string | null = port !== null && defaults.healthPath ? `http://127.0.0.1:${port}${defaults.healthPath}` : null;
  if (d.healthUrl !== undefined) {
    const h = d.healthUrl;
    let url: URL | null = null;
    try {
      url = typeof h === 'string' ? new URL(h) : null;
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      problems.push(`${at('healthUrl')} must be an http:// URL such as "http://127.0.0.1:8080/health", got ${JSON.stringify(h)}.`);
    else healthUrl = url.toString();
  }

  let needsBytes: number | null = null;
  if (d.needs !== undefined) {
    const n = parseSize(d.needs);
    if ('error' in n) problems.push(`${at('needs')}: ${n.error}.`);
    else if (n.kind === 'percent') problems.push(`${at('needs')} must be a size such as "6GiB" or "4096MiB", not a percentage.`);
    else needsBytes = n.bytes;
  }
  const model = typeof d.model === 'string' && d.model ? d.model : null;
  if (d.model !== undefined && model === null) problems.push(`${at('model')} must be the path of a model file.`);
  // A server's own arguments are what the VRAM gate sizes (llama-server): a value it would refuse is a problem now, not at the start.
  let argsNameModel = false;
  const checkArgs = entry.sizing?.checkArgs;
  if (checkArgs && problems.length === 0) {
    const checked = checkArgs([...(command ?? []).slice(1), ...args], env);
    if (!checked.ok) problems.push(`Task "${name}": ${checked.error}`);
    else argsNameModel = checked.namesModel;
  }
  if (needsBytes === null && model === null && !argsNameModel && kind !== COMMAND_KIND) {
    warnings.push(
      `Task "${name}" says neither "needs" nor "model": the VRAM gate cannot tell whether it fits. Add "needs": "6GiB" (what it takes when loaded).`,
    );
  }

  const bool = (field: string, fallback: boolean) => {
    const v = d[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') problems.push(`${at(field)} must be true or false.`);
    return v === true;
  };
  const exclusive = bool('exclusive', false);
  const loadReport = bool('loadReport', false);
  if (loadReport && kind !== GGUF_SERVER_KIND) problems.push(`${at('loadReport')} is for llama-server tasks only (it adds llama-server's -lv 4).`);
  const gpu = d.gpu === undefined ? 0 : d.gpu;
  if (typeof gpu !== 'number' || !Number.isInteger(gpu) || gpu < 0) problems.push(`${at('gpu')} must be a GPU index (0, 1, ...).`);
  const timeout = d.startTimeoutSeconds === undefined ? 120 : d.startTimeoutSeconds;
  if (typeof timeout !== 'number' || !(timeout > 0) || timeout > 3600)
    problems.push(`${at('startTimeoutSeconds')} must be a number of seconds from 1 to 3600.`);

  const fallback = parseTaskFallback(d.fallback, kind, name, problems);
  const restart = parseTaskRestart(d, at, problems);

  // A missing command is always among the problems.
  if (problems.length || !command) return { ok: false, problems };
  // A server that listens where its environment says (Ollama's OLLAMA_HOST) is kept in step with the port.
  if (port !== null) entry.taskEnv?.(port, env);
  return {
    ok: true,
    warnings,
    task: {
      name,
      server: kind,
      command,
      args,
      env,
      cwd: typeof d.cwd === 'string' ? d.cwd : null,
      port,
      healthUrl,
      needsBytes,
      model,
      exclusive,
      gpu: gpu as number,
      startTimeoutSeconds: timeout as number,
      fallback,
      restart,
      loadReport,
    },
  };
}

function parseTaskRestart(d: Record<string, unknown>, at: (field: string) => string, problems: string[]): TaskRestart {
  const policy = d.restart ?? 'never';
  if (policy !== 'never' && policy !== 'on-failure') problems.push(`${at('restart')} must be "on-failure" or "never".`);
  const max = d.maxRestartsPerHour ?? DEFAULT_MAX_RESTARTS_PER_HOUR;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 1000)
    problems.push(`${at('maxRestartsPerHour')} must be a whole number from 1 to 1000.`);
  return { onFailure: policy === 'on-failure', maxPerHour: typeof max === 'number' ? max : DEFAULT_MAX_RESTARTS_PER_HOUR };
}

function parseTaskFallback(value: unknown, kind: ServerKind, name: string, problems: string[]): TaskFallback {
  const defaults = kindEntry(kind).defaults;
  const out: TaskFallback = {
    contextArg: defaults.contextArg,
    contextSizes: [],
    cpuArgs: defaults.cpuArgs,
    cpuEnv: defaults.cpuEnv,
    model: null,
    sleepLevel: null,
    steps: [],
  };
  if (value === undefined) return out;
  const at = (field: string) => `Task "${name}": "fallback.${field}"`;
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`Task "${name}": "fallback" must be an object such as { "contextArg": "-c", "contextSizes": [8192, 4096, 2048] }.`);
    return out;
  }
  const f = value as Record<string, unknown>;
  if (f.contextArg !== undefined) {
    if (typeof f.contextArg !== 'string' || !f.contextArg)
      problems.push(`${at('contextArg')} must be the argument that sets the context, such as "-c" or "--max-model-len".`);
    else out.contextArg = f.contextArg;
  }
  if (f.contextSizes !== undefined) {
    const s = f.contextSizes;
    if (!Array.isArray(s) || !s.length || !s.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0))
      problems.push(`${at('contextSizes')} must be a list of context sizes, such as [8192, 4096, 2048].`);
    else out.contextSizes = [...new Set(s as number[])].sort((a, b) => b - a);
  }
  if (f.cpuArgs !== undefined) {
    if (!strings(f.cpuArgs)) problems.push(`${at('cpuArgs')} must be an array of arguments, such as ["-ng"].`);
    else out.cpuArgs = f.cpuArgs;
  }
  if (f.cpuEnv !== undefined) {
    const e = f.cpuEnv;
    if (!e || typeof e !== 'object' || Array.isArray(e) || !Object.values(e).every((v) => typeof v === 'string'))
      problems.push(`${at('cpuEnv')} must be an object of strings, such as { "WHISPER__INFERENCE_DEVICE": "cpu" }.`);
    else out.cpuEnv = e as Record<string, string>;
  }
  if (f.model !== undefined) {
    if (typeof f.model !== 'string' || !f.model) problems.push(`${at('model')} must be a model name, such as "llama3.2:3b".`);
    else out.model = f.model;
  }
  if (f.sleepLevel !== undefined) {
    if (f.sleepLevel !== 1 && f.sleepLevel !== 2) problems.push(`${at('sleepLevel')} must be 1 or 2.`);
    else out.sleepLevel = f.sleepLevel;
  }
  const steps = parseSteps(f.steps, `Task "${name}": "fallback.steps"`);
  problems.push(...steps.problems);
  out.steps = steps.steps;
  return out;
}

/** The base URL (scheme, host, port) of a task's server, for its API; null when it has none. */
export function serverBaseUrl(task: ServerTaskDefinition): string | null {
  if (task.healthUrl) return new URL(task.healthUrl).origin;
  return task.port !== null ? `http://127.0.0.1:${task.port}` : null;
}
