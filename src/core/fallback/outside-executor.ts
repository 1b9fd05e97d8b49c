/**
 * Fallback steps on the servers VRAM Guard did not start (a systemd service, a terminal, a script):
 * asked after the task servers' executor finds nothing to do. They act through the server's own API
 * — Ollama's unload (`keep_alive: 0`, the models from `/api/ps`) at its listening port on loopback or
 * at the Ollama URL of the user's settings, llama-server's router (`/models/unload`), vLLM's `/sleep`
 * where the server enables it, faster-whisper's `DELETE /api/ps/{id}` (outside-whisper.ts) — and
 * stop or restart a process's systemd user unit (`systemctl --user
 * stop|restart`). A system unit or another user's process is never touched: the plan says which
 * command to run instead. Only in a trusted workspace.
 */
import { errorMessage } from '../errors.ts';
import { getJson, isRecord, postJson, quoteReply, type HttpOptions } from '../servers/http.ts';
import { ollamaPs, ollamaUnload } from '../servers/adapters/ollama.ts';
import { vllmSleep } from '../servers/adapters/vllm.ts';
import type { FallbackStep } from '../servers/fallback-steps.ts';
import type { ProcessRecognition } from '../servers/recognition/recogniser.ts';
import { systemctlUser, type SystemctlOptions, unitAction, type UnitVerb } from '../servers/systemd-user-unit.ts';
import type { FallbackExecutor, Plan } from './executor.ts';
import { argumentStepAdvice } from './outside-advice.ts';
import { unloadFromFasterWhisper } from './outside-whisper.ts';

export interface OutsideExecutorOptions {
  /** The executor of the servers started from tasks: asked first. */
  managed: FallbackExecutor;
  /** The processes on a GPU, recognised from /proc (those of tasks may be left out). */
  processes: (gpu: number) => Promise<ProcessRecognition[]>;
  /** Ollama URLs from the user's own settings (a workspace never chooses where the guard acts). */
  ollamaUrls?: () => string[];
  /** Whether steps may act outside VRAM Guard's own servers (VS Code: `workspace.isTrusted`). */
  isTrusted: () => boolean;
  /** The user VRAM Guard runs as (`process.getuid()`); null where there is none. */
  uid?: number | null;
  systemctl?: SystemctlOptions;
  fetch?: typeof fetch;
  /** How long a server gets to answer a question (not an unload). Default 3 s. */
  probeTimeoutMs?: number;
}

type Outcome = Plan;

const WHISPER_KINDS = new Set(['whisper-cpp', 'faster-whisper']);
/** The kinds whose models a step can unload through their API when VRAM Guard did not start them. */
const UNLOADS_OUTSIDE = new Set(['ollama', 'vllm', 'llama-server', 'faster-whisper']);

/** Whether a step's target ("ollama", "whisper", "speaches.service", null ...) names this recognised process's kind or unit. */
export function targets(step: FallbackStep, r: ProcessRecognition): boolean {
  if (step.target === null) return r.serverKind !== null;
  return (
    step.target === r.kind ||
    (r.unit !== null && step.target === r.unit.name) ||
    step.target === r.serverKind ||
    (step.target === 'whisper' && WHISPER_KINDS.has(r.serverKind ?? ''))
  );
}

const loopback = (port: number) => `http://127.0.0.1:${port}`;

/** Where Ollama listens unless OLLAMA_HOST says otherwise. */
export const OLLAMA_DEFAULT_URL = 'http://127.0.0.1:11434';

export class OutsideServerExecutor implements FallbackExecutor {
  private readonly options: OutsideExecutorOptions;

  constructor(options: OutsideExecutorOptions) {
    this.options = options;
  }

  async plan(step: FallbackStep, gpu: number): Promise<Plan> {
    const managed = await this.options.managed.plan(step, gpu);
    if (managed.ok || step.action === 'command') return managed;
    const outside = await this.planOutside(step, gpu);
    if (outside.ok) return outside;
    return { ok: false, target: outside.target ?? managed.target, reason: `${managed.reason}; ${outside.reason}` };
  }

  private async planOutside(step: FallbackStep, gpu: number): Promise<Outcome> {
    const found = (await this.options.processes(gpu)).filter((r) => r.startedBy !== 'task' && targets(step, r));
    if (!found.length) return { ok: false, target: step.target, reason: 'none started outside VRAM Guard either' };
    if (!this.options.isTrusted())
      return { ok: false, target: step.target, reason: `servers VRAM Guard did not start are acted on only in a trusted workspace (Workspace Trust)` };
    const reasons: string[] = [];
    const attempts: Array<() => Promise<Outcome>> = [];
    if (step.action === 'unloadModel') {
      const ollama = found.filter((r) => r.kind === 'ollama');
      if (ollama.length) attempts.push(() => this.unloadOllama(step, ollama));
      for (const r of found.filter((r) => r.kind === 'vllm')) attempts.push(() => this.sleepVllm(r));
      for (const r of found.filter((r) => r.kind === 'llama-server')) attempts.push(() => this.unloadFromRouter(step, r));
      for (const r of found.filter((r) => r.kind === 'faster-whisper')) attempts.push(() => unloadFromFasterWhisper(step, r, describe(r), this.http()));
      for (const r of found.filter((r) => !UNLOADS_OUTSIDE.has(r.kind)))
        reasons.push(
          `${describe(r)}: outside VRAM Guard's tasks, models are unloaded from Ollama, llama-server's router, vLLM and faster-whisper only; a stopServer or restartServer step can act on its systemd user unit`,
        );
    } else if (step.action === 'stopServer' || step.action === 'restartServer') {
      const verb = step.action === 'stopServer' ? 'stop' : 'restart';
      for (const r of found) attempts.push(async () => this.unitStep(r, verb));
    } else if (step.action === 'reduceContext' || step.action === 'moveToCpu') {
      // They change a server's arguments: only a task's. For the others, what the user would run.
      const action = step.action;
      for (const r of found) reasons.push(argumentStepAdvice(action, r, describe(r)));
    }
    for (const attempt of attempts) {
      const plan = await attempt();
      if (plan.ok) return plan;
      reasons.push(plan.reason);
    }
    return { ok: false, target: found[0] ? describe(found[0]) : step.target, reason: reasons.join('; ') };
  }

  private http(): HttpOptions {
    return { fetch: this.options.fetch, timeoutMs: this.options.probeTimeoutMs ?? 3000 };
  }

  /**
   * Ollama's URLs: each `ollama serve` port on loopback, then the user's setting, else Ollama's
   * default address; the first with a model loaded is used.
   */
  private async unloadOllama(step: FallbackStep, found: ProcessRecognition[]): Promise<Outcome> {
    const urls = new Set<string>();
    for (const r of found) if (r.role !== 'runner') for (const p of r.ports) urls.add(loopback(p));
    for (const u of this.options.ollamaUrls?.() ?? []) urls.add(u.replace(/\/+$/, ''));
    const unit = found.find((r) => r.unit)?.unit;
    const where = unit ? ` (${unit.name}${unit.scope === 'user' ? ', a user unit' : ', a system unit'})` : '';
    // Another user's `ollama serve` (a system service) hides its sockets: Ollama's own default address, then.
    if (!urls.size) urls.add(OLLAMA_DEFAULT_URL);
    const reasons: string[] = [];
    for (const url of urls) {
      let loaded: Awaited<ReturnType<typeof ollamaPs>>;
      try {
        loaded = await ollamaPs(url, this.http());
      } catch (err) {
        reasons.push(
          `Ollama at ${url} did not answer (${errorMessage(err)}): nothing unloaded there${url === OLLAMA_DEFAULT_URL ? ' (its port could not be read: set vramGuard.servers.ollamaUrl in your user settings)' : ''}`,
        );
        continue;
      }
      const models = loaded.map((m) => m.name).filter((m) => !step.model || m === step.model);
      if (!models.length) {
        reasons.push(`Ollama at ${url} has ${step.model ? `no ${step.model}` : 'no model'} loaded`);
        continue;
      }
      const target = `Ollama at ${url}`;
      return {
        ok: true,
        target,
        description: `unload ${models.join(', ')} from ${target}${where}, started outside VRAM Guard (keep_alive 0)`,
        run: async () => {
          const done: string[] = [];
          for (const m of models) done.push(...(await ollamaUnload(url, m, { fetch: this.options.fetch })));
          return `unloaded ${done.join(', ')}`;
        },
      };
    }
    return { ok: false, target: 'ollama', reason: reasons.join('; ') };
  }

  /** vLLM's `/sleep`, which it serves only with `VLLM_SERVER_DEV_MODE=1` and `--enable-sleep-mode`; `GET /is_sleeping` says whether it does. */
  private async sleepVllm(r: ProcessRecognition): Promise<Outcome> {
    const name = describe(r);
    if (!r.ports.length) return { ok: false, target: name, reason: `${name} listens on no port VRAM Guard can read` };
    const url = loopback(r.ports[0] ?? 0);
    let reply: Awaited<ReturnType<typeof getJson>>;
    try {
      reply = await getJson(`${url}/is_sleeping`, this.http());
    } catch (err) {
      return { ok: false, target: name, reason: `vLLM at ${url} did not answer (${errorMessage(err)})` };
    }
    if (reply.status === 404)
      return { ok: false, target: name, reason: `vLLM at ${url} has no sleep mode: it needs VLLM_SERVER_DEV_MODE=1 and --enable-sleep-mode` };
    if (reply.status !== 200 || !isRecord(reply.json) || typeof reply.json.is_sleeping !== 'boolean')
      return { ok: false, target: name, reason: `vLLM at ${url}: GET /is_sleeping answered HTTP ${reply.status} without {"is_sleeping": …}` };
    if (reply.json.is_sleeping) return { ok: false, target: name, reason: `vLLM at ${url} is already asleep` };
    return {
      ok: true,
      target: `vLLM at ${url}`,
      description: `put vLLM at ${url} to sleep (level 1: weights to the CPU, KV cache dropped), started outside VRAM Guard`,
      run: async () => {
        await vllmSleep(url, 1, { fetch: this.options.fetch });
        return 'asleep (level 1)';
      },
    };
  }

  /**
   * llama-server in router mode (started without `-m`): `GET /models` lists each model with
   * `status.value`, and `POST /models/unload {"model": id}` unloads one. A single-model server has
   * no runtime unload.
   */
  private async unloadFromRouter(step: FallbackStep, r: ProcessRecognition): Promise<Outcome> {
    const name = describe(r);
    if (r.model !== null)
      return {
        ok: false,
        target: name,
        reason: `${name} serves one model (${r.model}) and cannot unload it while running: a restartServer or stopServer step can act on its user unit`,
      };
    if (!r.ports.length) return { ok: false, target: name, reason: `${name} listens on no port VRAM Guard can read` };
    const url = loopback(r.ports[0] ?? 0);
    let reply: Awaited<ReturnType<typeof getJson>>;
    try {
      reply = await getJson(`${url}/models`, this.http());
    } catch (err) {
      return { ok: false, target: name, reason: `llama-server at ${url} did not answer (${errorMessage(err)})` };
    }
    const data = reply.status === 200 && isRecord(reply.json) && Array.isArray(reply.json.data) ? reply.json.data : null;
    if (!data) return { ok: false, target: name, reason: `llama-server at ${url}: GET /models answered HTTP ${reply.status} without a router's model list` };
    const loaded = data
      .filter((m): m is Record<string, unknown> => isRecord(m) && typeof m.id === 'string' && isRecord(m.status) && m.status.value === 'loaded')
      .map((m) => m.id as string)
      .filter((id) => !step.model || id === step.model);
    if (!loaded.length) return { ok: false, target: name, reason: `llama-server at ${url} has ${step.model ? `no ${step.model}` : 'no model'} loaded` };
    return {
      ok: true,
      target: `llama-server at ${url}`,
      description: `unload ${loaded.join(', ')} from llama-server (router) at ${url}, started outside VRAM Guard`,
      run: async () => {
        for (const id of loaded) {
          const r = await postJson(`${url}/models/unload`, { model: id }, { fetch: this.options.fetch, timeoutMs: 30_000 });
          if (r.status !== 200) throw new Error(`llama-server refused to unload ${id}: HTTP ${r.status} ${quoteReply(r.text)}`);
        }
        return `unloaded ${loaded.join(', ')}`;
      },
    };
  }

  private unitStep(r: ProcessRecognition, verb: UnitVerb): Outcome {
    const name = describe(r);
    const allowed = unitAction(r, verb, this.options.uid ?? currentUid());
    if (!allowed.ok) return { ok: false, target: name, reason: allowed.reason };
    return {
      ok: true,
      target: allowed.unit,
      description: `${verb} ${name} with systemctl --user ${verb} ${allowed.unit}`,
      run: async () => {
        await systemctlUser(verb, allowed.unit, this.options.systemctl);
        return `${allowed.unit} ${verb === 'stop' ? 'stopped' : 'restarted'}`;
      },
    };
  }
}

function currentUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

/** "ollama (PID 812, ollama.service)". */
function describe(r: ProcessRecognition): string {
  return `${r.kind} (PID ${r.pid}${r.unit ? `, ${r.unit.name}` : ''})`;
}
