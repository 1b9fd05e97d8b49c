/**
 * The dashboard: the panel serializer (so an open dashboard comes back after a reload), and what
 * the commands "Open Dashboard", "Export VRAM History…" and "Import VRAM History…" do. It shows
 * the history store the extension's context owns; it neither feeds nor closes it.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import { readRecords } from '../../core/history/files.ts';
import { exportRecords, HistoryImportError, importHistoryStream, type ExportFormat } from '../../core/history/io.ts';
import type { HistoryStore } from '../../core/history/store.ts';
import type { HistoryRecord } from '../../core/history/types.ts';
import { clip, errorLine } from '../../core/report/one-line.ts';
import { SHOW_DETAILS, showNotice } from '../notifications/notice.ts';
import { DashboardSession, EXPORT_HISTORY_COMMAND, IMPORT_HISTORY_COMMAND, webviewOptions } from './dashboard-session.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';
import { errorMessage } from '../../core/errors.ts';
import { MiB } from '../../core/units.ts';

export const OPEN_DASHBOARD_COMMAND = COMMAND.openDashboard;
export const DASHBOARD_VIEW_TYPE = 'vramGuard.dashboard';
export { EXPORT_HISTORY_COMMAND, IMPORT_HISTORY_COMMAND };

export interface DashboardHandle extends vscode.Disposable {
  /** Opens the dashboard (or shows the open one). */
  open(): Promise<void>;
  /** Opens the dashboard in the column after the active one, keeping the focus there (unless it is open already). */
  openBeside(): Promise<void>;
  /** Exports the live history to a file the user picks, as CSV or JSON Lines (`format`: asked when not given). */
  exportHistory(format?: unknown): Promise<void>;
  /** Imports a history, an nvidia-smi CSV log or a trace (`uri`: asked when not given) and shows it. */
  importHistory(uri?: unknown): Promise<void>;
}

/** The dashboard of this window: its serializer is registered now; the panel opens on a command. */
export function activateDashboard(ctx: VramGuardContext): DashboardHandle {
  const { extension: context, log, history } = ctx;
  const loaded = ctx.historyLoaded;

  let session: DashboardSession | undefined;
  const createPanel = (title: string, column: vscode.ViewColumn, preserveFocus: boolean): vscode.WebviewPanel =>
    vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, title, { viewColumn: column, preserveFocus }, webviewOptions(context.extensionUri));
  const adopt = (panel: vscode.WebviewPanel, reloadsSoFar = 0): DashboardSession => {
    const s: DashboardSession = new DashboardSession(panel, ctx, { reloadsSoFar, reload: (attempt) => reopen(s, attempt) });
    session = s;
    s.onDidDispose(() => {
      if (session === s) session = undefined;
    });
    return s;
  };
  // A page that never said "ready": a fresh panel in the same place, showing the same history. It is
  // opened before the stalled one closes, so the editor group stays where it is.
  const reopen = (stalled: DashboardSession, attempt: number): void => {
    if (session !== stalled) return;
    const old = stalled.panel;
    const fresh = adopt(createPanel(old.title, old.viewColumn ?? vscode.ViewColumn.Active, !old.active), attempt);
    fresh.takeViewOf(stalled);
    stalled.dispose();
  };
  const open = async (column: vscode.ViewColumn = vscode.ViewColumn.Active): Promise<DashboardSession> => {
    if (session) {
      session.reveal();
      return session;
    }
    await loaded;
    return adopt(createPanel('VRAM Guard', column, column !== vscode.ViewColumn.Active));
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
    void showNotice('info', `Exported ${count} records to ${target.fsPath}.`);
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
    const path = file.fsPath;
    const name = file.path.split('/').pop() ?? path;
    let size: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new Error('it is not a file');
      size = st.size;
    } catch (err) {
      void showNotice('error', errorLine(`Importing ${name}`, err), [], log);
      return;
    }
    // Streamed, a slice at a time, under a progress notification that can cancel it: the editor
    // stays responsive whatever the size.
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `VRAM Guard: importing ${name}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        const cancel = token.onCancellationRequested(() => abort.abort(new HistoryImportError('the import was cancelled')));
        let shown = 0;
        try {
          const imported = await importHistoryStream(createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 }), name, {
            signal: abort.signal,
            onProgress: (chars) => {
              const pct = size ? Math.min(100, (chars / size) * 100) : 0;
              progress.report({ message: `${Math.round(chars / MiB)} of ${Math.round(size / MiB)} MiB read`, increment: pct - shown });
              shown = pct;
            },
          });
          return { imported, store: imported.store };
        } catch (err) {
          return { error: errorMessage(err), cancelled: abort.signal.aborted };
        } finally {
          cancel.dispose();
        }
      },
    );
    if ('error' in outcome) {
      if (outcome.cancelled) log.info(`history: import of ${path} cancelled`);
      else {
        log.error(`history: import of ${path} failed: ${outcome.error}`);
        void showNotice('error', errorLine(`Importing ${name}`, outcome.error), [{ label: SHOW_DETAILS, run: () => log.show(true) }]);
      }
      return;
    }
    const { imported, store } = outcome;
    if (imported.skipped.length) {
      log.warn(`history import of ${name}: skipped ${imported.skippedLines} line(s): ${imported.skipped.join('; ')}`);
      void showNotice('warning', `Imported ${clip(name, 60)}, but skipped ${imported.skippedLines} line(s) it could not read.`, [
        { label: SHOW_DETAILS, run: () => log.show(true) },
      ]);
    }
    const s = await open();
    s.showImported(store, imported.title, imported.format);
    log.info(`history: imported ${imported.records} records (${imported.format}) from ${path}`);
  };

  const disposables = [
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
    open: async () => void (await open()),
    exportHistory,
    importHistory: importCommand,
    openBeside: async () => {
      if (session) return; // restored with the window: it stays where it was
      // At startup the window may still be opening its editors (a README): wait for the first one
      // (a few seconds at most), so the dashboard goes beside it rather than under it.
      await firstEditorOpened(STARTUP_EDITOR_WAIT_MS);
      if (session) return;
      const anyOpen = vscode.window.tabGroups.all.some((g) => g.tabs.length > 0);
      const opened = await open(
        anyOpen ? (((vscode.window.tabGroups.activeTabGroup.viewColumn ?? vscode.ViewColumn.One) + 1) as vscode.ViewColumn) : vscode.ViewColumn.One,
      );
      if (!anyOpen) moveBesideLateEditor(opened.panel);
    },
    dispose: () => {
      session?.dispose();
      for (const d of disposables) d.dispose();
    },
  };
}

const STARTUP_EDITOR_WAIT_MS = 5000;
/** How long after it opened alone the dashboard steps aside for a startup editor that came late. */
const LATE_EDITOR_MS = 60_000;

/**
 * On a busy machine the startup editor (a README) can open after the wait, in the dashboard's group,
 * hiding it: the dashboard then moves to the column beside, as if the editor had come first. Once,
 * and only for an editor that opens over it in its first minute.
 */
function moveBesideLateEditor(panel: vscode.WebviewPanel): void {
  const done = () => {
    clearTimeout(timer);
    listener.dispose();
    closed.dispose();
  };
  const timer = setTimeout(done, LATE_EDITOR_MS);
  const closed = panel.onDidDispose(done);
  const listener = vscode.window.tabGroups.onDidChangeTabs((e) => {
    const column = panel.viewColumn;
    const over = e.opened.some(
      (t) => t.group.viewColumn === column && !(t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith(DASHBOARD_VIEW_TYPE)),
    );
    if (!over || column === undefined) return;
    done();
    panel.reveal((column + 1) as vscode.ViewColumn, true);
  });
}

/** Resolves once an editor tab is open (at once if one is), or after `timeoutMs`. */
function firstEditorOpened(timeoutMs: number): Promise<void> {
  if (vscode.window.tabGroups.all.some((g) => g.tabs.length > 0)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      listener.dispose();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    const listener = vscode.window.tabGroups.onDidChangeTabs((e) => {
      if (e.opened.length) done();
    });
  });
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
