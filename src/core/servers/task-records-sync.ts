/**
 * Keeps this window's task records (task-records.ts) in step with its servers: after each change of
 * the registry (a start, ready, an exit, a restart) the records of every task this window runs are
 * written again — one write at a time, changes that come meanwhile folded into the next — and on
 * `dispose` this window's records are removed, so `vram-guard ledger` shows each task's uptime,
 * restarts and last exit from another process.
 */
import { errorMessage } from '../errors.ts';
import type { ManagedServer } from './managed-server.ts';
import type { ServerRegistry } from './server-registry.ts';
import type { TaskRecord, TaskRecordBook } from './task-records.ts';

/** What the file says about one server of this window. */
export function taskRecordOf(s: ManagedServer, hostPid: number): TaskRecord {
  const f = s.lastFailure;
  return {
    name: s.name,
    kind: s.task.server,
    gpu: s.task.gpu,
    hostPid,
    pid: s.pid,
    state: s.state,
    readySince: s.state === 'ready' ? s.readyAt : null,
    restarts: s.restarts,
    lastExit: f ? { code: f.exit.exitCode, signal: f.exit.signal, at: f.at, lastLines: f.lastLines } : null,
  };
}

export function syncTaskRecords(
  registry: ServerRegistry,
  book: TaskRecordBook,
  log: (message: string) => void,
  hostPid: number = process.pid,
): { dispose(): Promise<void> } {
  let writing: Promise<void> | null = null;
  let again = false;
  let lastWritten = '';
  let disposed = false;
  let told = false;

  const writeNow = async (records: TaskRecord[]) => {
    const key = JSON.stringify(records);
    if (key === lastWritten) return;
    try {
      await book.replaceHost(hostPid, records);
      lastWritten = key;
      told = false;
    } catch (err) {
      if (!told) log(`could not write ${book.path} (vram-guard ledger will not show this window's tasks): ${errorMessage(err)}`);
      told = true;
    }
  };
  const schedule = () => {
    if (disposed) return;
    if (writing) {
      again = true;
      return;
    }
    writing = (async () => {
      do {
        again = false;
        await writeNow(registry.all().map((s) => taskRecordOf(s, hostPid)));
      } while (again && !disposed);
    })().finally(() => {
      writing = null;
    });
  };
  const off = registry.on('changed', schedule);
  return {
    dispose: async () => {
      off();
      disposed = true;
      await writing;
      if (lastWritten && lastWritten !== '[]') await writeNow([]);
    },
  };
}
