/**
 * Fallback steps carried out on the servers VRAM Guard knows: Ollama through its API (reload with a
 * smaller `num_ctx`, unload with `keep_alive: 0`), vLLM sleep, faster-whisper unload, and restarts of
 * `vram-guard` tasks with a smaller context or on the CPU; stopping a task; a user's command (only in
 * a trusted workspace, as an argument array).
 */
import { execa } from 'execa';
import { fasterWhisperAdapter, fasterWhisperUnload } from '../servers/adapters/faster-whisper.ts';
import { ollamaPs, ollamaReloadWithContext, ollamaUnload } from '../servers/adapters/ollama.ts';
import { vllmSleep } from '../servers/adapters/vllm.ts';
import type { ManagedServer } from '../servers/managed-server.ts';
import type { ServerRegistry } from '../servers/server-registry.ts';
import type { FallbackExecutor, Plan } from './executor.ts';
import type { FallbackStep } from '../servers/fallback-steps.ts';

/** Ollama context sizes to step through when a task does not list its own. */
export const DEFAULT_OLLAMA_CONTEXTS = [8192, 4096, 2048, 1024];

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
    switch (step.action) {
      case 'reduceContext': {
        if (s.task.server === 'ollama' && base) {
          const loaded = await ollamaPs(base, http).catch(() => []);
          const sizes = s.task.fallback.contextSizes.length ? s.task.fallback.contextSizes : DEFAULT_OLLAMA_CONTEXTS;
          for (const m of loaded) {
            if (step.model && m.name !== step.model) continue;
            const current = m.contextLength;
            const next = current === null ? null : sizes.find((n) => n < current);
            if (next === undefined || next === null) continue;
            return {
              ok: true,
              target: name,
              description: `reload ${m.name} on "${name}" with num_ctx ${next} (now ${current})`,
              run: async () => {
                await ollamaReloadWithContext(base, m.name, next, http);
                return `${m.name} reloaded with num_ctx ${next}`;
              },
            };
          }
          return { ok: false, target: name, reason: `"${name}": no loaded model above the smallest context (${sizes.at(-1)})` };
        }
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
        if (s.task.server === 'ollama' && base) {
          const model = step.model ?? s.task.fallback.model;
          const loaded = (await ollamaPs(base, http).catch(() => [])).filter((m) => !model || m.name === model);
          if (!loaded.length) return { ok: false, target: name, reason: `"${name}" has ${model ? `no ${model}` : 'no model'} loaded` };
          return {
            ok: true,
            target: name,
            description: `unload ${loaded.map((m) => m.name).join(', ')} from "${name}" (keep_alive 0)`,
            run: async () => `unloaded ${(await ollamaUnload(base, model, http)).join(', ') || 'nothing'}`,
          };
        }
        if (s.task.server === 'vllm' && base) {
          const level = s.task.fallback.sleepLevel;
          if (!level)
            return {
              ok: false,
              target: name,
              reason: `"${name}" (vLLM) has no sleep mode enabled: set "fallback.sleepLevel" and start it with --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1`,
            };
          return {
            ok: true,
            target: name,
            description: `put "${name}" to sleep (level ${level})`,
            run: async () => {
              await vllmSleep(base, level, http);
              return `asleep (level ${level})`;
            },
          };
        }
        if (s.task.server === 'faster-whisper' && base) {
          const models = (await fasterWhisperAdapter.report(base, http)).models.map((m) => m.name).filter((m) => !step.model || m === step.model);
          if (!models.length) return { ok: false, target: name, reason: `"${name}" has no model loaded` };
          return {
            ok: true,
            target: name,
            description: `unload ${models.join(', ')} from "${name}"`,
            run: async () => {
              for (const m of models) await fasterWhisperUnload(base, m, http);
              return `unloaded ${models.join(', ')}`;
            },
          };
        }
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
        return {
          ok: true,
          target: name,
          description: `restart "${name}"`,
          run: async () => {
            const r = await s.restart({}, 'fallback: restart');
            if (!r.ok) throw new Error(r.message);
            return 'restarted';
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
