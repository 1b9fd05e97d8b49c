/**
 * In VS Code: the journals of the systemd user units that hold a GPU (core/servers/journal/), looked
 * at again with the watcher's samples, and a cascade in one told as a task's is — the log, a
 * notification naming the unit, the level and the VRAM then — and reported to the registry, where
 * the history marks it and the fallback chain's `cascade` steps act on that unit's process.
 */
import type * as vscode from 'vscode';
import { cascadeText } from '../../core/servers/cascade-watch.ts';
import { momentOf } from '../../core/history/recorder.ts';
import { UnitJournals } from '../../core/servers/journal/unit-journals.ts';
import type { ProcessRecognition } from '../../core/servers/recognition/recogniser.ts';
import type { ServerRegistry } from '../../core/servers/server-registry.ts';
import { cascadeLine } from '../../core/report/one-line.ts';
import type { Watcher } from '../../core/watch/watcher.ts';
import { showNotice } from '../notifications/notice.ts';

export interface UnitJournalDeps {
  watcher: Watcher;
  registry: ServerRegistry;
  /** The processes on a GPU, recognised, less the tasks' own (fallback/outside-processes.ts). */
  processes: (gpu: number) => Promise<ProcessRecognition[]>;
  log: vscode.LogOutputChannel;
}

/** Starts following; returns what stops every follower (awaited by the lifetime). */
export function followUnitJournals(deps: UnitJournalDeps): { dispose(): Promise<void> } {
  const journals = new UnitJournals({
    processes: deps.processes,
    say: (m) => deps.log.warn(m),
    report: (c) => {
      const latest = deps.watcher.latest;
      const text = cascadeText(c.cascade, c.last, { name: c.server, pid: c.pid, gpu: c.gpu }, deps.watcher.reading());
      deps.log.error(`${c.server}: ${text}`);
      void showNotice('error', cascadeLine(c, momentOf(latest, c.gpu)), [], deps.log);
      deps.registry.reportCascade(c);
    },
  });
  const off = deps.watcher.on('sample', (w) => void journals.update(w.sample.devices.map((d) => d.index)));
  return {
    dispose: async () => {
      off();
      await journals.dispose();
    },
  };
}
