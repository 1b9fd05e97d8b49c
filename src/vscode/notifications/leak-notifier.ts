/**
 * The trend's notifications (src/core/trend/trend-watch.ts decides what is worth telling: a leak,
 * growth beyond a server's baseline, a RAM spill, low RAM — never a step or a burst), shown as
 * warnings with "Open Dashboard", and logged.
 */
import * as vscode from 'vscode';
import { readRssTable } from '../../core/trend/process-rss.ts';
import { TrendWatch, type TrendWatchDeps } from '../../core/trend/trend-watch.ts';
import { OPEN_DASHBOARD_COMMAND } from '../dashboard/dashboard-panel.ts';
import { showNotice } from './notice.ts';

export function leakNotifier(deps: Omit<TrendWatchDeps, 'tell' | 'rss'>, log: (line: string) => void): TrendWatch {
  return new TrendWatch({
    ...deps,
    rss: () => readRssTable(),
    tell: (message) => {
      log(message);
      void showNotice('warning', message, [{ label: 'Open Dashboard', run: () => vscode.commands.executeCommand(OPEN_DASHBOARD_COMMAND) }]);
    },
  });
}
