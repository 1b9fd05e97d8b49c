/**
 * Fallback steps on the servers VRAM Guard did not start (a systemd service, a terminal, a script):
 * asked after the task servers' executor finds nothing to do. They act through the server's own API
 * (each kind's file in servers/kinds/ says how) — Ollama's unload (`keep_alive: 0`, the models from `/api/ps`) at its listening port on loopback or
 * at the Ollama URL of the user's settings, llama-server's router (`/models/unload`), vLLM's `/sleep`
 * where the server enables it, faster-whisper's `DELETE /api/ps/{id}` — and
 * stop or restart a process's systemd user unit (`systemctl --user
 * stop|restart`). A system unit or another user's process is never touched: the plan says which
 * command to run instead. Only in a trusted workspace.
 */
import type { HttpOptions } from '../servers/http.ts';
import { SERVER_KIND_ENTRIES, targetNamesKind } from '../servers/kinds/index.ts';
import type { OutsideStep } from '../servers/kinds/kind-entry.ts';
import type { FallbackStep } from '../servers/fallback-steps.ts';
import type { ProcessRecognition } from '../servers/recognition/recogniser.ts';
import { systemctlUser, type SystemctlOptions, unitAction, type UnitVerb } from '../servers/systemd-user-unit.ts';
import type { FallbackExecutor, Plan } from './executor.ts';
import { argumentStepAdvice } from './outside-advice.ts';

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

/** Whether a step's target ("ollama", "whisper", "speaches.service", null ...) names this recognised process's kind or unit. */
export function targets(step: FallbackStep, r: ProcessRecognition): boolean {
  if (step.target === null) return r.serverKind !== null;
  return step.target === r.kind || (r.unit !== null && step.target === r.unit.name) || targetNamesKind(step.target, r.serverKind);
}

/** The kinds that can unload a model started outside VRAM Guard, and what they unload from ("Ollama", "vLLM"). */
const UNLOADERS = SERVER_KIND_ENTRIES.flatMap((k) => (k.fallback.unloadOutside ? [{ id: k.id as string, ...k.fallback.unloadOutside }] : []));

/** "A, B and C". */
const listed = (names: string[]) => (names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : (names[0] ?? ''));

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
      const outside: OutsideStep = {
        model: step.model,
        http: this.http(),
        fetch: this.options.fetch,
        ollamaUrls: () => this.options.ollamaUrls?.() ?? [],
        describe,
      };
      for (const u of UNLOADERS)
        attempts.push(
          ...u.attempts(
            found.filter((r) => r.kind === u.id),
            outside,
          ),
        );
      for (const r of found.filter((r) => !UNLOADERS.some((u) => u.id === r.kind)))
        reasons.push(
          `${describe(r)}: outside VRAM Guard's tasks, models are unloaded from ${listed(UNLOADERS.map((u) => u.from))} only; a stopServer or restartServer step can act on its systemd user unit`,
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
function describe(r: Pick<ProcessRecognition, 'kind' | 'pid' | 'unit'>): string {
  return `${r.kind} (PID ${r.pid}${r.unit ? `, ${r.unit.name}` : ''})`;
}
