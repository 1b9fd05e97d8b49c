/**
 * `vram-guard` on the PATH of every integrated terminal and task, with nothing to install: a small
 * launcher in the extension's global storage runs the bundled CLI with the editor's own runtime
 * (the extension host's executable; Electron's, as Node, on the desktop). The extension runs on the
 * workspace side, so over Remote-SSH, WSL and in containers the launcher is there too. The terminals
 * also get VRAM_GUARD_STATE_DIR, so the CLI finds the history the dashboard keeps.
 * `vramGuard.terminal.cli` (default on) turns it off, and the environment is cleared.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { launcherScript } from '../../core/cli-launcher.ts';
import { STATE_DIR_ENV } from '../../core/state-dir.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';

export const TERMINAL_CLI_SETTING = 'terminal.cli';

export interface TerminalCliHandle {
  /** The launcher terminals run as `vram-guard`, once written; null when the setting is off (or it could not be written). */
  launcher(): Promise<string | null>;
}

/** Puts vram-guard on the PATH of terminals while `vramGuard.terminal.cli` is on, following the setting; its listener is the context's. */
export function activateTerminalCli(ctx: VramGuardContext): TerminalCliHandle {
  const { extension: context, log, config } = ctx;
  const collection = context.environmentVariableCollection;
  const binDir = path.join(context.globalStorageUri.fsPath, 'bin');
  const enabled = () => config.current.general.terminalCli;

  const write = async (): Promise<string | null> => {
    const electron = typeof process.versions.electron === 'string';
    const script = launcherScript(process.platform, process.execPath, context.asAbsolutePath(path.join('dist', 'cli.cjs')), electron);
    const file = path.join(binDir, script.name);
    try {
      await mkdir(binDir, { recursive: true });
      await writeFile(file, script.content, { mode: 0o755 });
      await chmod(file, 0o755);
      return file;
    } catch (err) {
      log.warn(`terminal: could not write the vram-guard launcher to ${file}: ${String(err)}; terminals will not have vram-guard`);
      return null;
    }
  };

  let current: Promise<string | null> = Promise.resolve(null);
  const apply = () => {
    if (!enabled()) {
      collection.clear();
      current = Promise.resolve(null);
      return;
    }
    collection.description = 'VRAM Guard: the `vram-guard` command in terminals and tasks (setting vramGuard.terminal.cli)';
    collection.prepend('PATH', binDir + path.delimiter);
    collection.replace(STATE_DIR_ENV, context.globalStorageUri.fsPath);
    current = write().then((file) => {
      if (!file) collection.clear();
      else log.info(`terminal: vram-guard in terminals and tasks runs ${file}`);
      return file;
    });
  };
  apply();
  const listener = config.onDidChange((now, before) => {
    if (now.general.terminalCli !== before.general.terminalCli) apply();
  });
  ctx.own(listener);
  return { launcher: () => current };
}
