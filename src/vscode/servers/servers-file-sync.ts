/**
 * Keeps this window's servers file (`servers/<pid>.json` in the extension's global storage, VRAM
 * Guard's state folder) in step with the server registry, so a `vram-guard exporter` running as a service names the tasks and model
 * servers this window runs. Written asynchronously, at most every 250 ms; removed on shutdown.
 */
import { mkdir } from 'node:fs/promises';
import type * as vscode from 'vscode';
import { removeServersFile, serversDirPath, serversFilePath, writeServersFile } from '../../core/exporter/servers-file.ts';
import type { ServerRegistry } from '../../core/servers/server-registry.ts';
import { errorMessage } from '../../core/errors.ts';

const DEBOUNCE_MS = 250;

export function syncServersFile(registry: ServerRegistry, stateDir: string, log: vscode.LogOutputChannel): vscode.Disposable {
  const dir = serversDirPath(stateDir);
  const path = serversFilePath(dir);
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();
  let lastWritten = '';
  let disposed = false;

  const write = async () => {
    const owners = registry.owners();
    const key = JSON.stringify(owners);
    if (disposed || key === lastWritten) return;
    lastWritten = key;
    try {
      if (owners.length === 0) {
        await removeServersFile(path);
        return;
      }
      await mkdir(dir, { recursive: true });
      await writeServersFile(path, owners);
    } catch (err) {
      lastWritten = '';
      log.warn(`could not write ${path} (the exporter will not name this window's servers): ${errorMessage(err)}`);
    }
  };
  const schedule = () => {
    if (timer || disposed) return;
    timer = setTimeout(() => {
      timer = null;
      writing = writing.then(write);
    }, DEBOUNCE_MS);
  };
  const off = registry.on('changed', schedule);
  return {
    dispose: () => {
      off();
      if (timer) clearTimeout(timer);
      disposed = true;
      void writing.then(() => removeServersFile(path));
    },
  };
}
