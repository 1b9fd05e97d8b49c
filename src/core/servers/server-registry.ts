/**
 * Every server VRAM Guard knows of: the `vram-guard` tasks it runs, and ordinary shell/process
 * tasks whose PIDs VS Code reported. Fallback steps find their targets here, the ledger its owners,
 * and shutdown stops them all.
 */
import { Emitter } from '../events.ts';
import type { ManagedServer } from './managed-server.ts';
import type { ServerKind } from './task-definition.ts';

/** A process tree that belongs to something with a name (a task or a server). */
export interface Owner {
  name: string;
  /** The server kind, or "task" for an ordinary task. */
  kind: ServerKind | 'task';
  rootPid: number;
  baseUrl: string | null;
  /** The GPU it is meant to use; null when unknown (ordinary tasks). */
  gpu: number | null;
}

export interface TrackedTask {
  name: string;
  pid: number;
}

export class ServerRegistry extends Emitter<{ changed: [] }> {
  private readonly servers = new Map<string, ManagedServer>();
  private readonly tracked = new Map<string, TrackedTask>();

  add(server: ManagedServer): () => void {
    this.servers.set(server.name, server);
    const off = server.on('state', () => this.emit('changed'));
    this.emit('changed');
    return () => {
      off();
      if (this.servers.get(server.name) === server) this.servers.delete(server.name);
      this.emit('changed');
    };
  }

  get(name: string): ManagedServer | undefined {
    return this.servers.get(name);
  }

  all(): ManagedServer[] {
    return [...this.servers.values()];
  }

  /**
   * Servers a step's target names: a task's name first, else every server of that kind ("whisper"
   * names both whisper kinds); null: all.
   */
  find(target: string | null): ManagedServer[] {
    if (target === null) return this.all();
    const byName = this.servers.get(target);
    if (byName) return [byName];
    const kinds = target === 'whisper' ? ['whisper-cpp', 'faster-whisper'] : [target];
    return this.all().filter((s) => kinds.includes(s.task.server));
  }

  /** An ordinary task's process (from VS Code's onDidStartTaskProcess), keyed by its execution. */
  track(id: string, task: TrackedTask): void {
    this.tracked.set(id, task);
    this.emit('changed');
  }

  untrack(id: string): void {
    if (this.tracked.delete(id)) this.emit('changed');
  }

  owners(): Owner[] {
    const out: Owner[] = [];
    for (const s of this.servers.values()) if (s.pid !== null) out.push({ name: s.name, kind: s.task.server, rootPid: s.pid, baseUrl: s.baseUrl, gpu: s.task.gpu });
    for (const t of this.tracked.values()) out.push({ name: t.name, kind: 'task', rootPid: t.pid, baseUrl: null, gpu: null });
    return out;
  }

  /** Stops every running server, all at once, each with its own SIGTERM → SIGKILL grace. */
  async stopAll(reason = 'VS Code is closing'): Promise<void> {
    await Promise.all(this.all().map((s) => s.stop(reason).catch(() => null)));
  }

  /** The synchronous last resort when the host process exits. */
  killAllNow(): void {
    for (const s of this.servers.values()) s.killNow();
  }
}
