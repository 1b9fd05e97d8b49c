/**
 * The exporter inside VS Code: when `vramGuard.exporter.listen` names an address (user settings
 * only), the same exporter as `vram-guard exporter` serves the extension's own watcher and names
 * processes from its server registry. It follows the setting: started, moved or stopped on change.
 */
import { hostname } from 'node:os';
import * as vscode from 'vscode';
import { startExporter, type RunningExporter } from '../../core/exporter/exporter.ts';
import { formatListenAddress, type ListenAddress } from '../../core/exporter/listen-address.ts';
import { EXPORTER_LISTEN_SETTING, readExporterListen } from './exporter-setting.ts';
import { errorMessage } from '../../core/errors.ts';
import { errorLine } from '../../core/report/one-line.ts';
import { showNotice } from '../notifications/notice.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';

/**
 * Follows the setting from now on; the context's lifetime stops the exporter and waits until its
 * port is closed. The setting's problems go where every settings problem goes (the configuration).
 */
export function activateExporter(ctx: VramGuardContext): void {
  let running: RunningExporter | null = null;
  let current = '';
  let queue: Promise<void> = Promise.resolve();
  let disposed = false;

  const apply = async () => {
    const setting = readExporterListen(vscode.workspace.getConfiguration().inspect(EXPORTER_LISTEN_SETTING));
    ctx.config.setProblems('exporter', setting.problems);
    const wanted = disposed || !setting.address ? '' : formatListenAddress(setting.address);
    if (wanted === current) return;
    if (running) {
      await running.close();
      ctx.log.info(`exporter stopped (${running.url})`);
      running = null;
    }
    current = wanted;
    if (!setting.address || disposed) return;
    running = await start(setting.address);
  };

  const start = async (address: ListenAddress): Promise<RunningExporter | null> => {
    try {
      const exporter = await startExporter({
        watcher: ctx.watcher,
        hostname: hostname(),
        address,
        owners: () => ctx.servers.owners(),
        log: (m) => ctx.log.warn(m),
      });
      ctx.log.info(`exporter serving ${exporter.url}${address.loopback ? ' (this machine only)' : ''}`);
      return exporter;
    } catch (err) {
      const message = errorMessage(err);
      ctx.log.error(`exporter: ${message}`);
      void showNotice('warning', errorLine('Starting the exporter', err), [
        { label: 'Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', EXPORTER_LISTEN_SETTING) },
      ]);
      current = ''; // try again on the next change
      return null;
    }
  };

  const schedule = () => {
    queue = queue.then(apply).catch((err: unknown) => ctx.log.error(`exporter: ${String(err)}`));
  };
  schedule();
  const listener = vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration(EXPORTER_LISTEN_SETTING)) schedule();
  });
  const close = () => {
    disposed = true;
    listener.dispose();
    schedule();
    return queue;
  };
  ctx.own({ close });
}
