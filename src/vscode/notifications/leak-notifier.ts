/**
 * The trend's notifications (src/core/trend/trend-watch.ts decides what is worth telling: a leak,
 * growth beyond a server's baseline, a RAM spill, low RAM — never a step or a burst), shown as
 * warnings with "Open Dashboard", and logged.
 */
import * as vscode from 'vscode';
import { readRssTable } from '../../core/trend/process-rss.ts';
import { collectLedger } from '../../core/servers/ledger.ts';
import { TrendWatch } from '../../core/trend/trend-watch.ts';
import { OPEN_DASHBOARD_COMMAND } from '../dashboard/dashboard-panel.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { showNotice } from './notice.ts';

/** The trend of the context's GPUs, judged with its history, ledger and settings (read when judged). */
export function leakNotifier(ctx: Pick<VramGuardContext, 'trend' | 'history' | 'watcher' | 'servers' | 'config' | 'log'>): TrendWatch {
  const general = () => ctx.config.current.general;
  return new TrendWatch({
    trend: ctx.trend,
    history: ctx.history,
    ledger: async () => {
      const latest = ctx.watcher.latest;
      return latest ? collectLedger(latest.sample, ctx.servers.owners(), { reservations: [] }) : [];
    },
    deltas: () => ({ deltaPercent: general().leakDeltaPercent, deltaMiB: general().leakDeltaMiB }),
    spill: () => ({ minAvailableMiB: general().minAvailableRamMiB }),
    rss: () => readRssTable(),
    tell: (message) => {
      ctx.log.warn(message);
      void showNotice('warning', message, [{ label: 'Open Dashboard', run: () => vscode.commands.executeCommand(OPEN_DASHBOARD_COMMAND) }]);
    },
  });
}
