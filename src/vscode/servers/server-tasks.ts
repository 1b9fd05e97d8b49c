/**
 * The `vram-guard` task type: a task provider whose tasks run a model server through a
 * CustomExecution and a pseudoterminal — the definition is validated (problems go to the terminal
 * and the log), the VRAM gate runs, the server's output streams to the terminal, and closing the
 * terminal stops the whole process tree. When the gate refuses, a notification offers "Start
 * anyway", which runs the task again once without the gate. Ordinary shell/process tasks are
 * tracked by PID too, so their VRAM is attributed to them. Everything still running is stopped
 * when the extension goes.
 */
import { isAbsolute, resolve } from 'node:path';
import * as vscode from 'vscode';
import { GateBypass } from '../../core/servers/gate-bypass.ts';
import { ManagedServer } from '../../core/servers/managed-server.ts';
import { TASK_TYPE, validateTaskDefinition } from '../../core/servers/task-definition.ts';
import type { GateResult } from '../../core/servers/vram-gate.ts';
import { gateMarkdown } from '../../core/servers/gate-report.ts';
import { cascadeText } from '../../core/servers/cascade-watch.ts';
import { watchServerCascades } from '../../core/servers/server-cascades.ts';
import { TaskRestarts } from '../../core/servers/task-restarts.ts';
import { APPLY_ADVICE, applyFitAdvice } from './apply-fit-advice.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { detailsAction, showNotice, type NoticeAction } from '../notifications/notice.ts';
import { START_ANYWAY } from '../preflight/preflight-actions.ts';
import { errorMessage } from '../../core/errors.ts';
import { cascadeLine } from '../../core/report/one-line.ts';
import { momentOf } from '../../core/history/recorder.ts';

const RESET = '\x1b[0m';
const DIM = '\x1b[36m';
const RED = '\x1b[31m';

/** Terminal text: CRLF line ends, as a pseudoterminal needs. */
export function terminalText(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

class ServerTerminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private server: ManagedServer | null = null;
  private removeFromRegistry: (() => void) | null = null;
  private closed = false;
  private readonly ctx: VramGuardContext;
  private readonly definition: vscode.TaskDefinition;
  private readonly name: string;
  private readonly folder: string | undefined;
  private readonly task: vscode.Task;
  private readonly bypass: GateBypass;

  constructor(ctx: VramGuardContext, definition: vscode.TaskDefinition, task: vscode.Task, folder: string | undefined, bypass: GateBypass) {
    this.ctx = ctx;
    this.definition = definition;
    this.name = task.name;
    this.task = task;
    this.folder = folder;
    this.bypass = bypass;
  }

  private say(message: string, color = DIM): void {
    this.writeEmitter.fire(`${color}${terminalText(`[VRAM Guard] ${message}`)}${RESET}\r\n`);
  }

  open(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    const { ctx } = this;
    if (!vscode.workspace.isTrusted) {
      this.say(
        'This workspace is not trusted, so VRAM Guard does not start the commands its tasks name. Trust the workspace to run model servers from tasks.',
        RED,
      );
      return this.finish(1);
    }
    const v = validateTaskDefinition(this.definition, this.name);
    if (!v.ok) {
      this.say(
        `The task definition has ${v.problems.length === 1 ? 'a problem' : `${v.problems.length} problems`}; nothing was started. Fix it in tasks.json:`,
        RED,
      );
      for (const p of v.problems) {
        this.say(`  • ${p}`, RED);
        ctx.log.error(p);
      }
      return this.finish(1);
    }
    for (const w of v.warnings) {
      this.say(w);
      ctx.log.warn(w);
    }
    const task = v.task;
    if (this.folder) task.cwd = task.cwd ? (isAbsolute(task.cwd) ? task.cwd : resolve(this.folder, task.cwd)) : this.folder;
    const already = ctx.servers.running(task.name);
    if (already) {
      this.say(
        `"${task.name}" is already running (PID ${already.pid}${already.adopted ? ', left running by a budget spike' : ''}). Stop it first (${already.adopted ? `kill ${already.pid}, or reload the window` : 'VRAM Guard: Stop Model Server…'}).`,
        RED,
      );
      return this.finish(1);
    }
    const server = new ManagedServer(task, {
      readGpu: ctx.readGpu,
      gate: ctx.gate,
      lock: ctx.gpuLock,
      stopTimeoutMs: ctx.config.current.fallback.stopTimeoutMs,
    });
    this.server = server;
    this.removeFromRegistry = ctx.servers.add(server);
    server.on('log', (m) => {
      this.say(m);
      ctx.log.info(`${task.name}: ${m}`);
    });
    // CUDA error lines at 5 a second for 3 s: a cascade, told in the terminal, the log and a
    // notification, and reported to the registry (a marker in the history, the chain's cascade steps).
    watchServerCascades(server, ctx.servers, {
      tell: (c) => {
        void ctx.readGpu().then((reading) => {
          const text = cascadeText(c.cascade, c.last, { name: c.server, pid: c.pid, gpu: c.gpu }, reading);
          this.say(text, RED);
          ctx.log.error(`${c.server}: ${text}`);
          void showNotice('error', cascadeLine(c, momentOf(ctx.watcher.latest, c.gpu)), [], ctx.log);
        });
      },
    });
    server.on('output', (text) => this.writeEmitter.fire(terminalText(text)));
    // "restart": "on-failure": a server that fails is started again (backoff, hourly limit, the gate first).
    const restarts = task.restart.onFailure
      ? new TaskRestarts(server, {
          say: (m) => {
            this.say(m, RED);
            ctx.log.warn(`${task.name}: ${m}`);
          },
          onGiveUp: () => this.finish(server.lastExit?.exitCode || 1),
        })
      : null;
    server.on('state', (state) => {
      // The server is gone: it exited by itself, a restart by a fallback step failed, or a step stopped it —
      // unless its restart policy starts it again.
      if ((state === 'exited' || state === 'failed') && !restarts?.pending) this.finish(server.lastExit?.exitCode || 1);
      if (state === 'stopped') {
        restarts?.dispose();
        this.finish(0);
      }
    });
    const bypassed = this.bypass.take(task.name);
    if (bypassed !== null) {
      this.say('VRAM gate bypassed: "Start anyway" was chosen after it refused this task. It starts without the check, once.', RED);
      ctx.log.warn(`${task.name}: VRAM gate bypassed ("Start anyway") after it refused: ${bypassed}`);
    }
    const r = await server.start({ skipGate: bypassed !== null });
    if (!r.ok) {
      ctx.log.error(`${task.name}: ${r.message}`);
      if (r.gate?.status === 'fail') this.offerStartAnyway(task.name, r.gate);
      return this.finish(1);
    }
  }

  /**
   * The gate refused: one sentence with the figures, and "Start anyway" (the task once more, without
   * the gate), "Show details" (the full report), and "Apply…" where the estimate has fit advice.
   */
  private offerStartAnyway(name: string, gate: GateResult): void {
    const { ctx } = this;
    const advice = gate.fitAdvice?.suggestions.length ? gate.fitAdvice : null;
    this.say(`Not started. A notification offers "${START_ANYWAY}"${advice ? ` and "${APPLY_ADVICE}" (${advice.suggestions[0]?.flags})` : ''}.`, RED);
    const actions: NoticeAction[] = [
      {
        label: START_ANYWAY,
        run: () => {
          ctx.log.warn(`${name}: "${START_ANYWAY}" chosen; the next start skips the VRAM gate`);
          this.bypass.allowOnce(name, gate.summary);
          vscode.tasks.executeTask(this.task).then(undefined, (err: unknown) => {
            this.bypass.cancel(name);
            ctx.log.error(`${name}: could not start the task again: ${errorMessage(err)}`);
          });
        },
      },
    ];
    actions.push(detailsAction(ctx.views, `VRAM gate - ${name}`, () => gateMarkdown(name, gate)));
    if (advice) actions.push({ label: APPLY_ADVICE, run: () => applyFitAdvice(this.task, advice, ctx.log) });
    void showNotice('warning', gate.headline ?? gate.summary, actions, ctx.log);
  }

  private finish(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.removeFromRegistry?.();
    this.closeEmitter.fire(code);
  }

  handleInput(data: string): void {
    if (data === '\x03') void this.stop('Ctrl+C');
  }

  close(): void {
    void this.stop('the task was terminated');
  }

  private async stop(reason: string): Promise<void> {
    const s = this.server;
    if (s) await s.stop(reason);
    this.finish(0);
  }
}

/** The `vram-guard` task type and the tracking of ordinary tasks' processes, owned by the context's lifetime. */
export function activateServerTasks(ctx: VramGuardContext): void {
  const folderOf = (task: vscode.Task) =>
    task.scope && typeof task.scope === 'object' ? task.scope.uri.fsPath : vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const bypass = new GateBypass();
  const execution = (task: vscode.Task) => new vscode.CustomExecution(async (definition) => new ServerTerminal(ctx, definition, task, folderOf(task), bypass));

  const provider = vscode.tasks.registerTaskProvider(TASK_TYPE, {
    provideTasks: () => [],
    resolveTask(task) {
      if (task.definition.type !== TASK_TYPE) return undefined;
      const resolved = new vscode.Task(task.definition, task.scope ?? vscode.TaskScope.Workspace, task.name, TASK_TYPE, undefined, []);
      resolved.execution = execution(resolved);
      resolved.isBackground = true;
      return resolved;
    },
  });

  // Ordinary shell/process tasks: VS Code reports their PIDs; their trees are joined to NVML's list.
  const ids = new WeakMap<vscode.TaskExecution, string>();
  let next = 0;
  const started = vscode.tasks.onDidStartTaskProcess((e) => {
    if (e.execution.task.definition.type === TASK_TYPE || !e.processId) return;
    const id = `task-${++next}`;
    ids.set(e.execution, id);
    ctx.servers.track(id, { name: e.execution.task.name, pid: e.processId });
  });
  const ended = vscode.tasks.onDidEndTaskProcess((e) => {
    const id = ids.get(e.execution);
    if (id) ctx.servers.untrack(id);
  });

  // No orphans: SIGKILL whatever is left if the host exits without deactivating.
  const onExit = () => ctx.servers.killAllNow();
  process.on('exit', onExit);

  // The servers themselves are stopped once, by the context that owns the registry.
  ctx.own(provider, started, ended, () => process.off('exit', onExit));
}
