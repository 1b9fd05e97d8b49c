/** Notifications for level rises, rate-limited by the alert policy, with a "Show details" action. */
import * as vscode from 'vscode';
import type { LevelTransition } from '../../core/watch/classifier.ts';
import { AlertPolicy } from '../../core/watch/alert-policy.ts';
import { levelAlertLine } from '../../core/report/one-line.ts';
import { SHOW_DETAILS, showNotice } from './notice.ts';
import { SHOW_DETAILS_COMMAND } from '../status-bar/status-bar.ts';

export class LevelNotifier {
  readonly policy: AlertPolicy;

  constructor(options: { notifyOnWarning: boolean; minIntervalMs: number }) {
    this.policy = new AlertPolicy(options);
  }

  onTransition(t: LevelTransition): void {
    if (!this.policy.shouldNotify(t)) return;
    void showNotice(t.to === 'emergency' ? 'error' : 'warning', levelAlertLine(t), [
      { label: SHOW_DETAILS, run: () => vscode.commands.executeCommand(SHOW_DETAILS_COMMAND) },
    ]);
  }
}
