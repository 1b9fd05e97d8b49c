/**
 * Fallback steps carried out on the servers VRAM Guard knows: what a server's kind does through its
 * API (kinds/: Ollama reloads with a smaller `num_ctx` or unloads with `keep_alive: 0`, vLLM sleeps,
 * faster-whisper unloads), and restarts of `vram-guard` tasks with a smaller context or on the CPU;
 * restarting or stopping a task; a user's command (only in a trusted workspace, as an argument array).
 */
import { execa } from 'execa';
import { kindEntry } from '../servers/kinds/index.ts';
import type { TaskStep } from '../servers/kinds/kind-entry.ts';
import type { ManagedServer } from '../servers/managed-server.ts';
import type { ServerRegistry } from '../servers/server-registry.ts';
import type { FallbackExecutor, Plan } from './executor.ts';
import type { FallbackStep } from '../servers/fallback-steps.ts';

export interface ServerExecutorOptions {
  registry: ServerRegistry;
  /** Whether user commands may run (VS Code: `workspace.isTrusted`). */
  isTrusted: () => boolean;
  commandTimeoutMs?: number;
  fetch?: typeof fetch;
}

const running = (s: ManagedServer) => s.state === 'ready';

export class ServerExecutor implements FallbackExecutor {
  private readonly options: ServerExecutorOptions;

  constructor(options: ServerExecutorOptions) {
    this.options = options;
  }

  async plan(step: FallbackStep, gpu: number): Promise<Plan> {
    if (step.action === 'command') return this.planCommand(step);
    const candidates = this.options.registry.find(step.target).filter((s) => running(s) && s.task.gpu === gpu);
    const what = step.target ? `"${step.target}"` : 'server';
    if (!candidates.length) return { ok: false, target: step.target, reason: `no running ${what} on GPU ${gpu}` };
    const reasons: string[] = [];
    for (const s of candidates) {
      const plan = await this.planFor(step, s);
      if (plan.ok) return plan;
      reasons.push(plan.reason);
    }
    return { ok: false, target: step.target, reason: reasons.join('; ') };
  }

  private async planFor(step: FallbackStep, s: ManagedServer): Promise<Plan> {
    const name = s.name;
    const http = { fetch: this.options.fetch };
    const base = s.baseUrl;
    const kind = kindEntry(s.task.server);
    const apiStep = (base: string): TaskStep => ({ name, base, http, model: step.model, fallback: s.task.fallback });
    switch (step.action) {
      case 'reduceContext': {
        const own = kind.fallback.reduceContext;
        if (own && base) return own(apiStep(base));
        if (!s.task.fallback.contextArg) return { ok: false, target: name, reason: `"${name}" (${s.task.server}) has no context argument to reduce` };
        const next = s.nextContext();
        if (next === null)
          return {
            ok: false,
            target: name,
            reason: s.task.fallback.contextSizes.length
              ? `"${name}" is already at its smallest context (${s.currentContext()})`
              : `"${name}" lists no "fallback.contextSizes" to step through`,
          };
        return {
          ok: true,
          target: name,
          description: `restart "${name}" with ${s.task.fallback.contextArg} ${next} (now ${s.currentContext() ?? 'default'})`,
          run: async () => {
            const r = await s.restart({ contextSize: next }, `fallback: context ${next}`);
            if (!r.ok) throw new Error(r.message);
            return `restarted with ${s.task.fallback.contextArg} ${next}`;
          },
        };
      }
      case 'unloadModel': {
        const own = kind.fallback.unloadModel;
        if (own && base) return own(apiStep(base));
        return { ok: false, target: name, reason: `"${name}" (${s.task.server}) cannot unload a model while running` };
      }
      case 'moveToCpu': {
        const f = s.task.fallback;
        if (!f.cpuArgs.length && !Object.keys(f.cpuEnv).length)
          return { ok: false, target: name, reason: `"${name}" (${s.task.server}) has no CPU switch ("fallback.cpuArgs" / "fallback.cpuEnv")` };
        if (s.overrides.cpu) return { ok: false, target: name, reason: `"${name}" already runs on the CPU` };
        const how = [...f.cpuArgs, ...Object.entries(f.cpuEnv).map(([k, v]) => `${k}=${v}`)].join(' ');
        return {
          ok: true,
          target: name,
          description: `restart "${name}" on the CPU (${how})`,
          run: async () => {
            const r = await s.restart({ cpu: true }, 'fallback: move to the CPU');
            if (!r.ok) throw new Error(r.message);
            return `restarted on the CPU (${how})`;
          },
        };
      }
      case 'restartServer':
        // Stop and start again through the task's own server, whose memory is freed first: the way out
        // of a CUDA-error cascade (field note 001's daemon never recovered by itself).
        if (!this.options.isTrusted()) return { ok: false, target: name, reason: 'restarts run only in a trusted workspace (Workspace Trust)' };
        return {
          ok: true,
          target: name,
          description: `restart "${name}"${step.trigger.kind === 'cascade' ? ' after a CUDA-error cascade in its output' : ''}`,
          run: async () => {
            const r = await s.restart({}, step.trigger.kind === 'cascade' ? 'fallback: CUDA-error cascade' : 'fallback step');
            if (!r.ok) throw new Error(r.message);
            return `restarted (PID ${r.pid})`;
          },
        };
      case 'stopServer':
        return {
          ok: true,
          target: name,
          description: `stop "${name}"`,
          run: async () => {
            const r = await s.stop('fallback step');
            return r?.how === 'SIGKILL' ? 'stopped (it needed SIGKILL)' : 'stopped';
          },
        };
      default:
        return { ok: false, target: name, reason: `unknown action ${step.action}` };
    }
  }

  private planCommand(step: FallbackStep): Plan {
    const [program, ...rest] = step.command ?? [];
    if (program === undefined) return { ok: false, target: null, reason: 'the step has no command' };
    const argv = [program, ...rest];
    if (!this.options.isTrusted()) return { ok: false, target: program, reason: 'commands from settings run only in a trusted workspace (Workspace Trust)' };
    return {
      ok: true,
      target: program,
      description: `run ${argv.join(' ')}`,
      run: async () => {
        const r = await execa(program, rest, { reject: false, timeout: this.options.commandTimeoutMs ?? 60_000, stdin: 'ignore', all: true });
        if (r.failed)
          throw new Error(
            `${program} failed (${r.exitCode !== undefined ? `exit code ${r.exitCode}` : r.shortMessage}): ${String(r.all ?? '')
              .trim()
              .split('\n')
              .slice(-3)
              .join(' | ')}`,
          );
        return `exit code 0${r.all ? `: ${String(r.all).trim().split('\n').slice(-1)[0]}` : ''}`;
      },
    };
  }
}
