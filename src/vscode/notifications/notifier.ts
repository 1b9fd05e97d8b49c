/**
 * Notifications for level rises, rate-limited by the alert policy, with a "Show details" action:
 * the watcher's level changes, with the policy following `vramGuard.notifyOnWarning` and
 * `vramGuard.notificationMinIntervalSeconds`.
 */
import * as vscode from 'vscode';
import type { LevelTransition } from '../../core/watch/classifier.ts';
import { AlertPolicy } from '../../core/watch/alert-policy.ts';
import { levelAlertLine } from '../../core/report/one-line.ts';
import { SHOW_DETAILS, showNotice } from './notice.ts';
import { SHOW_DETAILS_COMMAND } from '../status-bar/status-bar.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';

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

/** Notifies the context's level rises from now on; its listeners belong to the context's lifetime. */
export function activateLevelNotifications(ctx: Pick<VramGuardContext, 'config' | 'watcher' | 'own'>): void {
  const options = () => {
    const g = ctx.config.current.general;
    return { notifyOnWarning: g.notifyOnWarning, minIntervalMs: g.notificationMinIntervalSeconds * 1000 };
  };
  const notifier = new LevelNotifier(options());
  ctx.own(
    ctx.watcher.on('transition', (t) => notifier.onTransition(t)),
    ctx.config.onDidChange(() => {
      notifier.policy.options = options();
    }),
  );
}
