/**
 * Every server VRAM Guard knows of: the `vram-guard` tasks it runs, servers a budget spike left
 * running (adopted), and ordinary shell/process tasks whose PIDs VS Code reported. Fallback steps
 * find their targets here, the ledger its owners, and shutdown stops them all.
 */
import { Emitter } from '../events.ts';
import type { ManagedServer } from './managed-server.ts';
import { signalQuietly } from './process-tree.ts';
import type { StopResult } from './server-process.ts';
import { kindsNamedBy } from './kinds/index.ts';
import { serverBaseUrl, type ServerTaskDefinition } from './task-definition.ts';
import type { Owner } from './owner.ts';
import type { Cascade } from './cascade-detector.ts';
import type { CudaErrorLine } from './cuda-error-scanner.ts';

export type { Owner } from './owner.ts';

export interface TrackedTask {
  name: string;
  pid: number;
}

/** A running server started elsewhere (a budget spike that was told to leave it running). */
export interface AdoptedServer {
  name: string;
  task: ServerTaskDefinition;
  /** The leader of its process group. */
  pid: number;
  /** Stops it and its process tree (SIGTERM, wait, SIGKILL). */
  stop(): Promise<StopResult>;
  exited(): boolean;
}

/** A CUDA-error cascade in the output of a server VRAM Guard runs. */
export interface ServerCascade {
  /** The task's name, and its server kind. */
  server: string;
  kind: string;
  pid: number | null;
  gpu: number;
  cascade: Cascade;
  last: CudaErrorLine;
}

export class ServerRegistry extends Emitter<{ changed: []; cascade: [ServerCascade] }> {
  private readonly servers = new Map<string, ManagedServer>();
  private readonly tracked = new Map<string, TrackedTask>();
  private readonly adopted = new Map<string, AdoptedServer>();

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

  /** A server's output cascaded: told to whoever listens (the history, the fallback chain). */
  reportCascade(c: ServerCascade): void {
    this.emit('cascade', c);
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
    const kinds = kindsNamedBy(target);
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

  /**
   * Takes over a server that is already running: it is named in the ledger and stopped with the
   * others. It leaves the registry once it has exited. Returns a function that removes it (without
   * stopping it).
   */
  adopt(server: AdoptedServer): () => void {
    this.adopted.set(server.name, server);
    this.emit('changed');
    return () => {
      if (this.adopted.get(server.name) === server && this.adopted.delete(server.name)) this.emit('changed');
    };
  }

  /** The running process of the server or adopted server called `name`, and which it is; null when none runs. */
  running(name: string): { pid: number; adopted: boolean } | null {
    const pid = this.servers.get(name)?.pid ?? null;
    if (pid !== null) return { pid, adopted: false };
    const a = this.adoptedServers().find((x) => x.name === name);
    return a ? { pid: a.pid, adopted: true } : null;
  }

  /** Adopted servers still running (those that exited are dropped here). */
  adoptedServers(): AdoptedServer[] {
    for (const [name, a] of this.adopted) if (a.exited()) this.adopted.delete(name);
    return [...this.adopted.values()];
  }

  owners(): Owner[] {
    const out: Owner[] = [];
    for (const s of this.servers.values())
      if (s.pid !== null)
        out.push({ name: s.name, kind: s.task.server, rootPid: s.pid, baseUrl: s.baseUrl, gpu: s.task.gpu, expectedBytes: s.lastGate?.expectedBytes ?? null });
    for (const a of this.adoptedServers()) out.push({ name: a.name, kind: a.task.server, rootPid: a.pid, baseUrl: serverBaseUrl(a.task), gpu: a.task.gpu });
    for (const t of this.tracked.values()) out.push({ name: t.name, kind: 'task', rootPid: t.pid, baseUrl: null, gpu: null });
    return out;
  }

  /** Stops every running server, all at once, each with its own SIGTERM → SIGKILL grace. */
  async stopAll(reason = 'VS Code is closing'): Promise<void> {
    const adopted = this.adoptedServers();
    this.adopted.clear();
    await Promise.all([...this.all().map((s) => s.stop(reason).catch(() => null)), ...adopted.map((a) => a.stop().catch(() => null))]);
  }

  /** The synchronous last resort when the host process exits. */
  killAllNow(): void {
    for (const s of this.servers.values()) s.killNow();
    for (const a of this.adoptedServers()) {
      signalQuietly(-a.pid, 'SIGKILL');
      signalQuietly(a.pid, 'SIGKILL');
    }
  }
}
