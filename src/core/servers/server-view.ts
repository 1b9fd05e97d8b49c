/** The servers VRAM Guard runs or has adopted, as plain data for the exported API. */
import type { ServerState } from './managed-server.ts';
import type { ServerRegistry } from './server-registry.ts';
import { serverBaseUrl, type ServerKind } from './task-definition.ts';

export interface ServerView {
  name: string;
  kind: ServerKind;
  /** A `vram-guard` task's server, or one a budget spike left running. */
  origin: 'task' | 'spike';
  /** The task server's state; "ready" for a server a spike left running. */
  state: ServerState;
  /** Its process while it runs; null otherwise. */
  pid: number | null;
  baseUrl: string | null;
}

export function serverViews(registry: ServerRegistry): ServerView[] {
  return [
    ...registry.all().map((s): ServerView => ({ name: s.name, kind: s.task.server, origin: 'task', state: s.state, pid: s.pid, baseUrl: s.baseUrl })),
    ...registry
      .adoptedServers()
      .map((a): ServerView => ({ name: a.name, kind: a.task.server, origin: 'spike', state: 'ready', pid: a.pid, baseUrl: serverBaseUrl(a.task) })),
  ];
}
