/**
 * "VRAM Guard: Run VRAM Budget Spike…": the user picks the `vram-guard` tasks to start, in order
 * (or a JSON spec file in the workspace), and the spike runs under a cancellable progress
 * notification. The report is saved under `.vram-guard/spikes/` in the workspace and opened.
 * Servers the user chose to leave running are handed over (`onServerLeftRunning`), so they are
 * named in the ledger and stopped with the others. It starts commands, so it runs only in a
 * trusted workspace.
 */
import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import { join, resolve } from 'node:path';
import { systemClock } from '../../core/clock.ts';
import { processLauncher, type LaunchedServer, type SpikeLauncher } from '../../core/checks/spike-launcher.ts';
import { sendLoad } from '../../core/checks/spike-load.ts';
import { spikeMarkdown, spikeSummary } from '../../core/checks/spike-report.ts';
import { saveSpikeReport, SPIKES_DIR, type SavedSpike } from '../../core/checks/spike-save.ts';
import { applyTiming, DEFAULT_TIMING, validateSpikeServers, validateSpikeSpec, type SpikeServer, type SpikeSpec } from '../../core/checks/spike-spec.ts';
import { runSpike, type SpikeReport } from '../../core/checks/spike.ts';
import { collectLedger } from '../../core/servers/ledger.ts';
import { TASK_TYPE } from '../../core/servers/task-definition.ts';
import { spikeStageEvent } from '../../core/checks/spike-history.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { serverKindEntry } from '../../core/servers/kinds/index.ts';
import { errorMessage } from '../../core/errors.ts';
import { spikeVerdictLine } from '../../core/checks/check-lines.ts';
import { errorLine } from '../../core/report/one-line.ts';
import { showNotice, SHOW_DETAILS } from '../notifications/notice.ts';

export const SPIKE_COMMAND = COMMAND.runBudgetSpike;
const TITLE = 'VRAM Guard: VRAM Budget Spike';

/** The launcher, remembering what it started, so servers left running can be handed over. */
function rememberingLauncher(inner: SpikeLauncher): { launcher: SpikeLauncher; launched: Map<string, { server: SpikeServer; handle: LaunchedServer }> } {
  const launched = new Map<string, { server: SpikeServer; handle: LaunchedServer }>();
  return {
    launched,
    launcher: {
      async start(server, signal) {
        const r = await inner.start(server, signal);
        if (r.ok) launched.set(server.name, { server, handle: r.server });
        return r;
      },
    },
  };
}

interface ServerPick extends vscode.QuickPickItem {
  task?: vscode.Task;
  action?: 'run' | 'spec';
}

/** Asks for the tasks, one at a time, in the order they start. */
async function pickTasks(tasks: vscode.Task[]): Promise<vscode.Task[] | 'spec' | undefined> {
  const chosen: vscode.Task[] = [];
  for (;;) {
    const items: ServerPick[] = [];
    if (chosen.length)
      items.push(
        { label: `$(play) Run the spike: ${chosen.map((t) => t.name).join(' → ')}`, action: 'run' },
        { label: '', kind: vscode.QuickPickItemKind.Separator },
      );
    for (const task of tasks) {
      if (chosen.includes(task)) continue;
      const d = task.definition as Record<string, unknown>;
      const command = Array.isArray(d.command) ? (d.command as unknown[]).join(' ') : '';
      items.push({ label: `$(server-process) ${task.name}`, description: String(d.server ?? ''), detail: command || undefined, task });
    }
    if (!chosen.length) items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: '$(json) Use a spike spec file (JSON)…', action: 'spec' });
    const picked = await vscode.window.showQuickPick(items, {
      title: TITLE,
      placeHolder: chosen.length
        ? `Started in this order: ${chosen.map((t) => t.name).join(' → ')}. Add a server, or run.`
        : 'The first server to start (then the next, in order)',
    });
    if (!picked) return undefined;
    if (picked.action === 'spec') return 'spec';
    if (picked.action === 'run') return chosen;
    if (picked.task) chosen.push(picked.task);
    if (chosen.length === tasks.length) return chosen;
  }
}

/** The tasks as spike servers; asks for an Ollama model where the task names none. */
async function specFromTasks(tasks: vscode.Task[], timingSettings: Record<string, unknown>): Promise<SpikeSpec | string | undefined> {
  const raw: Array<Record<string, unknown>> = [];
  for (const task of tasks) {
    const d: Record<string, unknown> = { ...(task.definition as Record<string, unknown>), name: task.name };
    const fallback = d.fallback && typeof d.fallback === 'object' ? (d.fallback as Record<string, unknown>) : {};
    const needsModel = serverKindEntry(d.server)?.spike?.needsModel;
    if (needsModel && typeof fallback.model !== 'string') {
      const model = await vscode.window.showInputBox({
        title: `${TITLE} — ${task.name}`,
        prompt: `The model the load request to "${task.name}" uses (add "fallback": { "model": "…" } to the task to skip this question)`,
        placeHolder: needsModel.example,
        validateInput: (t) => (t.trim() ? undefined : 'A model name is needed'),
      });
      if (model === undefined) return undefined;
      d.load = { model: model.trim() };
    }
    raw.push(d);
  }
  const r = validateSpikeServers(raw);
  if (!r.ok) return r.problems.join(' ');
  const problems: string[] = [];
  const timing = applyTiming(DEFAULT_TIMING, timingSettings, 'vramGuard.spike: ', problems);
  if (problems.length) return problems.join(' ');
  return { gpu: r.servers[0]?.task.gpu ?? 0, servers: r.servers, timing, leaveRunning: false };
}

async function specFromFile(
  folder: vscode.WorkspaceFolder,
  noTasks: boolean,
  timingSettings: Record<string, unknown>,
): Promise<SpikeSpec | string | undefined> {
  const title = `${TITLE}: ${noTasks ? `no "${TASK_TYPE}" tasks here, so choose a spec file (JSON) with the servers` : 'the spec file (JSON)'}`;
  const files = await vscode.window.showOpenDialog({
    defaultUri: folder.uri,
    canSelectMany: false,
    openLabel: 'Run the spike',
    title,
    filters: { 'Spike spec (JSON)': ['json'] },
  });
  const file = files?.[0];
  if (!file) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(file)));
  } catch (err) {
    return `${vscode.workspace.asRelativePath(file)} could not be read as JSON: ${errorMessage(err)}`;
  }
  // The file's timing wins over the settings'.
  const merged = json && typeof json === 'object' && !Array.isArray(json) ? { ...timingSettings, ...(json as Record<string, unknown>) } : json;
  const r = validateSpikeSpec(merged, vscode.workspace.asRelativePath(file));
  return r.ok ? r.spec : r.problems.join(' ');
}

async function askLeaveRunning(spec: SpikeSpec): Promise<boolean | undefined> {
  const stop = { label: '$(debug-stop) Stop them when the spike ends', leave: false };
  const leave = { label: '$(debug-continue) Leave them running', description: 'a cancelled or failed spike stops them anyway', leave: true };
  const picked = await vscode.window.showQuickPick(spec.leaveRunning ? [leave, stop] : [stop, leave], {
    title: TITLE,
    placeHolder: `The servers the spike starts (${spec.servers.map((s) => s.name).join(', ')})`,
  });
  return picked?.leave;
}

async function run(ctx: VramGuardContext, folder: vscode.WorkspaceFolder, spec: SpikeSpec): Promise<void> {
  const opened = await ctx.openSource();
  if (!opened.ok) {
    ctx.log.error(`spike: no GPU to measure: ${opened.reason}`);
    void showNotice('error', errorLine('The budget spike', `no GPU to measure, so nothing was started: ${opened.reason}`), [], ctx.log);
    return;
  }
  const source = opened.source;
  const { launcher, launched } = rememberingLauncher(
    processLauncher({ stopTimeoutMs: spec.timing.stopTimeoutMs, onOutput: (name, text) => ctx.log.trace(`[${name}] ${text.trimEnd()}`) }),
  );
  let report: SpikeReport;
  try {
    report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'VRAM budget spike', cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        const cancel = token.onCancellationRequested(() => controller.abort());
        let done = 0;
        try {
          return await runSpike(
            spec,
            {
              sample: () => source.sample(Date.now()),
              source: { kind: source.kind, description: source.description },
              thresholds: ctx.config.current.general.thresholds,
              clock: systemClock,
              launcher,
              load: sendLoad,
              ledger: (sample, owners) => collectLedger(sample, owners),
            },
            {
              signal: controller.signal,
              onProgress: (p) => {
                ctx.log.info(`spike: ${p.message}`);
                ctx.history.recordEvent(spikeStageEvent(Date.now(), spec.gpu, p));
                progress.report({ message: p.message, increment: Math.max(0, (p.fraction - done) * 100) });
                done = Math.max(done, p.fraction);
              },
            },
          );
        } finally {
          cancel.dispose();
        }
      },
    );
  } finally {
    await source.dispose();
  }
  const summary = spikeSummary(report);
  ctx.log.info(`spike: ${summary}`);
  for (const result of report.servers) {
    const started = launched.get(result.name);
    if (result.stop?.how !== 'left-running' || !started || started.handle.exited()) continue;
    const { server, handle } = started;
    ctx.servers.adopt({ name: server.name, task: server.task, pid: handle.pid, stop: () => handle.stop(), exited: () => handle.exited() });
    ctx.log.info(`spike: "${server.name}" (PID ${handle.pid}) left running; it is stopped when VS Code closes`);
  }
  let saved: SavedSpike | null = null;
  try {
    saved = await saveSpikeReport(join(folder.uri.fsPath, SPIKES_DIR), report);
    ctx.log.info(`spike: saved ${saved.markdownPath} and ${saved.jsonPath}`);
  } catch (err) {
    const message = errorMessage(err);
    ctx.log.error(`spike: the report could not be saved: ${message}`);
    void showNotice('error', errorLine(`Saving the spike report in ${SPIKES_DIR}`, err), [], ctx.log);
  }
  const details = async () => {
    if (saved) await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(saved.markdownPath));
    else await ctx.views.show('VRAM budget spike', spikeMarkdown(report));
  };
  await details();
  const severity = report.status === 'complete' && report.decision?.verdict === 'GO' ? 'info' : 'warning';
  void showNotice(severity, spikeVerdictLine(report), [{ label: SHOW_DETAILS, run: details }], ctx.log);
}

/**
 * "Run VRAM Budget Spike…": starts the servers of the tasks or spec picked, one step at a time, and
 * measures the peak with a GPU source of its own (10 samples a second, faster than the watcher);
 * each stage is marked in the history, and a server left running is the registry's to stop.
 */
export const runBudgetSpike = (ctx: VramGuardContext) => {
  let running = false;
  return async () => {
    if (!vscode.workspace.isTrusted) {
      // It starts the model servers this workspace's tasks or spec file name.
      void showNotice('error', 'The budget spike runs only in a trusted workspace: it starts the servers its tasks name.', [
        { label: 'Manage Workspace Trust', run: () => vscode.commands.executeCommand('workbench.trust.manage') },
      ]);
      return;
    }
    if (running) {
      void showNotice('warning', 'A budget spike is already running: wait for it, or cancel it in its notification.');
      return;
    }
    const folder =
      vscode.workspace.workspaceFolders?.length === 1
        ? vscode.workspace.workspaceFolders[0]
        : await vscode.window.showWorkspaceFolderPick({ placeHolder: 'The folder the spike report is saved in' });
    if (!folder) {
      if (!vscode.workspace.workspaceFolders?.length)
        void showNotice('error', 'Open a folder first: the budget spike saves its report in the workspace (.vram-guard/spikes).');
      return;
    }
    running = true;
    try {
      const tasks = await vscode.tasks.fetchTasks({ type: TASK_TYPE });
      const choice = tasks.length ? await pickTasks(tasks) : 'spec';
      if (!choice) return;
      const spec =
        choice === 'spec'
          ? await specFromFile(folder, tasks.length === 0, ctx.config.current.spikeTiming)
          : await specFromTasks(choice, ctx.config.current.spikeTiming);
      if (spec === undefined) return;
      if (typeof spec === 'string') {
        ctx.log.warn(`spike: ${spec}`);
        void showNotice('error', errorLine('The budget spike', spec), [], ctx.log);
        return;
      }
      const leaveRunning = await askLeaveRunning(spec);
      if (leaveRunning === undefined) return;
      // Relative paths in commands and models are the workspace folder's, as in its tasks.
      const servers = spec.servers.map((s) => ({ ...s, task: { ...s.task, cwd: resolve(folder.uri.fsPath, s.task.cwd ?? '.') } }));
      await run(ctx, folder, { ...spec, servers, leaveRunning });
    } catch (err) {
      ctx.log.error(`spike failed: ${errorMessage(err)}`);
      void showNotice('error', errorLine('The budget spike', err), [{ label: SHOW_DETAILS, run: () => ctx.log.show(true) }]);
    } finally {
      running = false;
    }
  };
};
