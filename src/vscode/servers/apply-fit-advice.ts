/**
 * "Apply…" after the gate refused a task whose estimate has fit advice: pick a suggestion, confirm
 * the change, and VRAM Guard writes it into the task's `args` (llama-server) or `env` (Ollama) in
 * tasks.json through VS Code's configuration API. Nothing is written without the confirmation.
 */
import * as vscode from 'vscode';
import { taskChange, type TaskChange } from '../../core/estimate/apply-advice.ts';
import type { FitSuggestion, ServerFlavour } from '../../core/estimate/fit-advice.ts';
import { clip } from '../../core/report/one-line.ts';
import { TASK_TYPE } from '../../core/servers/task-definition.ts';
import { formatGiB } from '../../core/units.ts';
import { showNotice } from '../notifications/notice.ts';

export const APPLY_ADVICE = 'Apply…';
const CONFIRM = 'Apply';

interface SuggestionPick extends vscode.QuickPickItem {
  suggestion: FitSuggestion;
}

/** The tasks.json entry of a task: its index in `tasks` and where the array lives. */
function taskEntry(task: vscode.Task): { config: vscode.WorkspaceConfiguration; tasks: unknown[]; index: number; target: vscode.ConfigurationTarget } | null {
  const folder = task.scope && typeof task.scope === 'object' ? task.scope : vscode.workspace.workspaceFolders?.[0];
  const config = vscode.workspace.getConfiguration('tasks', folder?.uri);
  const inspected = config.inspect<unknown[]>('tasks');
  const inFolder = Array.isArray(inspected?.workspaceFolderValue);
  const tasks = (inFolder ? inspected?.workspaceFolderValue : inspected?.workspaceValue) ?? null;
  if (!Array.isArray(tasks)) return null;
  const index = tasks.findIndex((t) => {
    const d = t as { label?: unknown; type?: unknown } | null;
    return d?.type === TASK_TYPE && d.label === task.name;
  });
  if (index < 0) return null;
  return { config, tasks, index, target: inFolder ? vscode.ConfigurationTarget.WorkspaceFolder : vscode.ConfigurationTarget.Workspace };
}

const shown = (change: TaskChange) =>
  change.field === 'args'
    ? change.value.join(' ')
    : Object.entries(change.value)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');

/** Asks which suggestion, shows the change, writes it on "Apply". True when tasks.json was changed. */
export async function applyFitAdvice(
  task: vscode.Task,
  advice: { flavour: ServerFlavour; suggestions: readonly FitSuggestion[] },
  log: vscode.LogOutputChannel,
): Promise<boolean> {
  const picks: SuggestionPick[] = advice.suggestions.map((s) => ({
    label: s.flags,
    description: `about ${formatGiB(s.totalBytes)}`,
    detail: s.title,
    suggestion: s,
  }));
  const picked =
    picks.length === 1
      ? picks[0]
      : await vscode.window.showQuickPick(picks, { title: `What would fit: "${clip(task.name, 60)}"`, placeHolder: 'The settings to write into the task' });
  if (!picked) return false;
  const entry = taskEntry(task);
  if (!entry) {
    void showNotice('warning', `"${clip(task.name, 60)}" is not in tasks.json, so nothing was changed: add ${clip(picked.suggestion.flags, 60)} yourself.`);
    return false;
  }
  const definition = entry.tasks[entry.index] as { args?: unknown; env?: unknown };
  const change = taskChange(definition, advice.flavour, picked.suggestion);
  const before = change.field === 'args' ? (Array.isArray(definition.args) ? definition.args.join(' ') : '') : JSON.stringify(definition.env ?? {});
  const answer = await vscode.window.showWarningMessage(
    `Change the ${change.field === 'args' ? 'arguments' : 'environment'} of "${clip(task.name, 60)}" in tasks.json?`,
    { modal: true, detail: `Now: ${before}\n\nAfter: ${shown(change)}\n\nEstimated need after: about ${formatGiB(picked.suggestion.totalBytes)}.` },
    CONFIRM,
  );
  if (answer !== CONFIRM) return false;
  const tasks = entry.tasks.slice();
  tasks[entry.index] = { ...(definition as object), [change.field]: change.value };
  await entry.config.update('tasks', tasks, entry.target);
  log.info(`${task.name}: tasks.json ${change.field} set to ${shown(change)} (fit advice: ${picked.suggestion.title})`);
  void showNotice('info', `"${clip(task.name, 60)}" now runs with ${clip(picked.suggestion.flags, 60)}; run the task again to start it.`);
  return true;
}
