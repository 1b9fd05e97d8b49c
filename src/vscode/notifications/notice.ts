/**
 * Notifications of one line with their actions: the sentence (from src/core/report/one-line.ts)
 * and buttons; the chosen action runs here, and an action that fails says so in one line too.
 */
import * as vscode from 'vscode';
import { errorMessage } from '../../core/errors.ts';
import { errorLine, MAX_LINE, notificationLine } from '../../core/report/one-line.ts';
import type { MarkdownViews } from './markdown-view.ts';

export type NoticeSeverity = 'info' | 'warning' | 'error';

export interface NoticeAction {
  label: string;
  run: () => unknown;
}

export const SHOW_DETAILS = 'Show details';

const SHOW = {
  info: vscode.window.showInformationMessage,
  warning: vscode.window.showWarningMessage,
  error: vscode.window.showErrorMessage,
} as const;

/** "Show details": the full report in a Markdown view. */
export function detailsAction(views: MarkdownViews, name: string, markdown: () => string): NoticeAction {
  return { label: SHOW_DETAILS, run: () => views.show(name, markdown()) };
}

/**
 * Shows `line` (cut to its first sentence under 160 characters if it is longer) with the actions'
 * buttons; runs the one chosen. Resolves to its label, or undefined when the notification was closed.
 */
export async function showNotice(
  severity: NoticeSeverity,
  line: string,
  actions: readonly NoticeAction[] = [],
  log?: vscode.LogOutputChannel,
): Promise<string | undefined> {
  // A line already short and single is shown as it is; a longer text keeps its first sentence.
  const text = line.length < MAX_LINE && !/[\r\n]/.test(line) ? line : notificationLine(line);
  let offered = actions;
  if (text !== line.trim() && log) {
    // What did not fit in the line goes to the output channel, which "Show details" opens.
    log.info(line);
    if (!actions.some((a) => a.label === SHOW_DETAILS)) offered = [...actions, { label: SHOW_DETAILS, run: () => log.show(true) }];
  }
  const choice = await SHOW[severity](text, ...offered.map((a) => a.label));
  const action = offered.find((a) => a.label === choice);
  if (!action) return undefined;
  try {
    await action.run();
  } catch (err) {
    log?.error(`"${action.label}" failed: ${errorMessage(err)}`);
    void SHOW.error(errorLine(`"${action.label}"`, err));
  }
  return action.label;
}
