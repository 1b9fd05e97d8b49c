/** Notifications for level rises, rate-limited by the alert policy, with a "Show details" action. */
import * as vscode from 'vscode';
import type { LevelTransition } from '../core/watch/classifier.ts';
import { AlertPolicy } from '../core/watch/alert-policy.ts';
import { levelLabel } from '../core/watch/levels.ts';
import { formatMiB, percentOf } from '../core/units.ts';
import { SHOW_DETAILS_COMMAND } from './status-bar.ts';

export class LevelNotifier {
  readonly policy: AlertPolicy;

  constructor(options: { notifyOnWarning: boolean; minIntervalMs: number }) {
    this.policy = new AlertPolicy(options);
  }

  onTransition(t: LevelTransition): void {
    if (!this.policy.shouldNotify(t)) return;
    const message =
      `VRAM Guard: GPU ${t.gpu} is at ${levelLabel(t.to)} — ${formatMiB(t.usedBytes)} of ${formatMiB(t.totalBytes)} ` +
      `(${percentOf(t.usedBytes, t.totalBytes).toFixed(0)}%) used. A model server that allocates more may fail with out-of-memory errors.`;
    const show = t.to === 'emergency' ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
    void show(message, 'Show details').then((choice) => {
      if (choice === 'Show details') void vscode.commands.executeCommand(SHOW_DETAILS_COMMAND);
    });
  }
}
