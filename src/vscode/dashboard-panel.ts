/**
 * The dashboard: command "VRAM Guard: Open Dashboard", the panel serializer (so an open dashboard
 * comes back after a reload), and the history export and import commands. It shows the history
 * store the extension's context owns; it neither feeds nor closes it.
 */
import { createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { once } from 'node:events';
import * as vscode from 'vscode';
import type { FallbackMode } from '../core/fallback/steps.ts';
import { readRecords } from '../core/history/files.ts';
import { exportRecords, HistoryImportError, importHistory, type ExportFormat } from '../core/history/io.ts';
import { HistoryStore } from '../core/history/store.ts';
import type { HistoryEvent, HistoryRecord } from '../core/history/types.ts';
import { DashboardSession, EXPORT_HISTORY_COMMAND, IMPORT_HISTORY_COMMAND, webviewOptions, type DashboardSources } from './dashboard-session.ts';

export const OPEN_DASHBOARD_COMMAND = 'vramGuard.openDashboard';
export const DASHBOARD_VIEW_TYPE = 'vramGuard.dashboard';
export { EXPORT_HISTORY_COMMAND, IMPORT_HISTORY_COMMAND };

/** Imports larger than this are refused (a week of 1 Hz nvidia-smi logs for 8 GPUs is about 200 MB). */
const MAX_IMPORT_BYTES = 512 * 1024 * 1024;

export interface DashboardDeps extends DashboardSources {
  context: vscode.ExtensionContext;
  /** The live history (owned by the extension's context, which also feeds and closes it). */
  history: HistoryStore;
  /** Settles once the saved history has been read: the page waits for it. */
  historyLoaded: Promise<unknown>;
  setFallbackMode: (mode: FallbackMode) => Thenable<void>;
}

export function registerDashboard(deps: DashboardDeps): vscode.Disposable {
  const { context, log, history } = deps;
  const loaded = deps.historyLoaded;

  let session: DashboardSession | undefined;
  const sessionDeps = {
    extensionUri: context.extensionUri,
    watcher: deps.watcher,
    servers: deps.servers,
    chain: deps.chain,
    steps: deps.steps,
    fallbackMode: deps.fallbackMode,
    thresholds: deps.thresholds,
    history,
    setFallbackMode: deps.setFallbackMode,
    log,
  };
  const adopt = (panel: vscode.WebviewPanel): DashboardSession => {
    const s = new DashboardSession(panel, sessionDeps);
    session = s;
    s.onDidDispose(() => {
      if (session === s) session = undefined;
    });
    return s;
  };
  const open = async (): Promise<DashboardSession> => {
    if (session) {
      session.reveal();
      return session;
    }
    await loaded;
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'VRAM Guard', vscode.ViewColumn.Active, webviewOptions(context.extensionUri));
    return adopt(panel);
  };

  const exportHistory = async (format?: unknown): Promise<void> => {
    let chosen: ExportFormat | undefined = format === 'csv' || format === 'jsonl' ? format : undefined;
    if (!chosen) {
      const pick = await vscode.window.showQuickPick(
        [
          { label: 'CSV', description: 'one row per GPU per sample, with RAM and swap; events as rows', format: 'csv' as const },
          { label: 'JSON Lines', description: 'every record, as VRAM Guard stores it', format: 'jsonl' as const },
        ],
        { title: 'Export the VRAM history as' },
      );
      chosen = pick?.format;
    }
    if (!chosen) return;
    const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(context.globalStorageUri.fsPath);
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(folder, `vram-history-${stamp}.${chosen}`),
      filters: chosen === 'csv' ? { CSV: ['csv'] } : { 'JSON Lines': ['jsonl'] },
      title: 'Export the VRAM history',
    });
    if (!target) return;
    await loaded;
    const count = await writeExport(history, chosen, target.fsPath);
    log.info(`history: exported ${count} records to ${target.fsPath}`);
    void vscode.window.showInformationMessage(`VRAM Guard: exported ${count} records to ${target.fsPath}.`);
  };

  const importCommand = async (uri?: unknown): Promise<void> => {
    let file = uri instanceof vscode.Uri ? uri : undefined;
    if (!file) {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: { 'VRAM logs': ['csv', 'jsonl', 'json', 'log', 'txt'], 'All files': ['*'] },
        title: 'Import a VRAM history, an nvidia-smi CSV log or a VRAM Guard trace',
      });
      file = picked?.[0];
    }
    if (!file) return;
    const size = (await stat(file.fsPath)).size;
    if (size > MAX_IMPORT_BYTES) {
      void vscode.window.showErrorMessage(`VRAM Guard: ${file.fsPath} is ${Math.round(size / 1048576)} MB, more than the ${MAX_IMPORT_BYTES / 1048576} MB an import may be. Cut it to the incident first.`);
      return;
    }
    const name = file.path.split('/').pop() ?? file.fsPath;
    let imported;
    try {
      imported = importHistory(await readFile(file.fsPath, 'utf8'), name);
    } catch (err) {
      const message = err instanceof HistoryImportError ? err.message : String(err);
      void vscode.window.showErrorMessage(`VRAM Guard could not import it: ${message}`);
      return;
    }
    const store = new HistoryStore({ dir: null, retentionMs: Number.MAX_SAFE_INTEGER / 4, recentMs: Number.MAX_SAFE_INTEGER / 4, maxEvents: 100_000 });
    for (const r of imported.records) store.apply(r);
    if (imported.skipped.length) log.warn(`history import of ${name}: skipped ${imported.skipped.join('; ')}`);
    const s = await open();
    s.showImported(store, imported.title, imported.format);
    log.info(`history: imported ${imported.records.length} records (${imported.format}) from ${file.fsPath}`);
  };

  const disposables = [
    vscode.commands.registerCommand(OPEN_DASHBOARD_COMMAND, async () => void (await open())),
    vscode.commands.registerCommand(EXPORT_HISTORY_COMMAND, exportHistory),
    vscode.commands.registerCommand(IMPORT_HISTORY_COMMAND, importCommand),
    vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      // The page keeps its range in its own state and names it when it says "ready".
      async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
        await loaded;
        session?.dispose();
        adopt(panel);
      },
    }),
  ];

  return {
    dispose: () => {
      session?.dispose();
      for (const d of disposables) d.dispose();
    },
  };
}

/** Streams the live history's files into one export file; returns the records written. */
async function writeExport(history: HistoryStore, format: ExportFormat, path: string): Promise<number> {
  const out = createWriteStream(path, { encoding: 'utf8' });
  try {
    async function* batches(): AsyncGenerator<HistoryRecord[]> {
      for (const file of await history.filePaths()) {
        const records: HistoryRecord[] = [];
        await readRecords(file, (r) => records.push(r), { files: 0, records: 0, tornLines: 0, badLines: 0 });
        yield records;
      }
    }
    const count = await exportRecords(batches(), format, 'VRAM Guard history', async (chunk) => {
      if (!out.write(chunk)) await once(out, 'drain');
    });
    return count;
  } finally {
    out.end();
    await once(out, 'close');
  }
}

/** A budget spike stage as a chart marker (the spike command's progress callback can record it). */
export function spikeStageEvent(t: number, message: string): HistoryEvent {
  return { t, kind: 'spike', gpu: null, text: `budget spike: ${message}`, level: null, usedBefore: null, usedAfter: null };
}
