/**
 * The exporter inside VS Code: when `vramGuard.exporter.listen` names an address (user settings
 * only), the same exporter as `vram-guard exporter` serves the extension's own watcher and names
 * processes from its server registry. It follows the setting: started, moved or stopped on change.
 */
import { hostname } from 'node:os';
import * as vscode from 'vscode';
import { startExporter, type RunningExporter } from '../../core/exporter/exporter.ts';
import { formatListenAddress, type ListenAddress } from '../../core/exporter/listen-address.ts';
import type { ServerRegistry } from '../../core/servers/server-registry.ts';
import type { Watcher } from '../../core/watch/watcher.ts';
import { EXPORTER_LISTEN_SETTING, readExporterListen } from './exporter-setting.ts';
import { errorMessage } from '../../core/errors.ts';
import { errorLine } from '../../core/report/one-line.ts';
import { showNotice } from '../notifications/notice.ts';

export interface ExporterServiceDeps {
  watcher: Watcher;
  registry: ServerRegistry;
  log: vscode.LogOutputChannel;
  /** Where the setting's problems go: the one place settings problems reach the user. */
  reportProblems: (problems: string[]) => void;
}

export interface ExporterService extends vscode.Disposable {
  /** Stops the exporter (on deactivation) and waits until its port is closed. */
  close(): Promise<void>;
}

export function registerExporterService(deps: ExporterServiceDeps): ExporterService {
  let running: RunningExporter | null = null;
  let current = '';
  let queue: Promise<void> = Promise.resolve();
  let disposed = false;

  const apply = async () => {
    const setting = readExporterListen(vscode.workspace.getConfiguration().inspect(EXPORTER_LISTEN_SETTING));
    deps.reportProblems(setting.problems);
    const wanted = disposed || !setting.address ? '' : formatListenAddress(setting.address);
    if (wanted === current) return;
    if (running) {
      await running.close();
      deps.log.info(`exporter stopped (${running.url})`);
      running = null;
    }
    current = wanted;
    if (!setting.address || disposed) return;
    running = await start(setting.address);
  };

  const start = async (address: ListenAddress): Promise<RunningExporter | null> => {
    try {
      const exporter = await startExporter({
        watcher: deps.watcher,
        hostname: hostname(),
        address,
        owners: () => deps.registry.owners(),
        log: (m) => deps.log.warn(m),
      });
      deps.log.info(`exporter serving ${exporter.url}${address.loopback ? ' (this machine only)' : ''}`);
      return exporter;
    } catch (err) {
      const message = errorMessage(err);
      deps.log.error(`exporter: ${message}`);
      void showNotice('warning', errorLine('Starting the exporter', err), [
        { label: 'Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', EXPORTER_LISTEN_SETTING) },
      ]);
      current = ''; // try again on the next change
      return null;
    }
  };

  const schedule = () => {
    queue = queue.then(apply).catch((err: unknown) => deps.log.error(`exporter: ${String(err)}`));
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
  return { dispose: () => void close(), close };
}
