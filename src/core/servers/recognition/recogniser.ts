/**
 * Names every GPU process: given the PIDs of NVML's process list, reads /proc (proc-facts.ts) and
 * walks the registry of kinds (kinds.ts) — kind, model, listening ports, systemd unit, owner, and
 * whether `vram-guard run` started it. Cached per (PID, start time): a refresh with the same
 * processes reads one small `stat` file per PID; a reused PID is recognised again.
 */
import { formatDuration } from '../../duration.ts';
import type { ServerKind } from '../kinds/server-kind.ts';
import { PROCESS_KINDS } from './kinds.ts';
import {
  type ProcReader,
  type ProcessFacts,
  parseStatFields,
  readListeningSockets,
  type HeldFile,
  heldStartTicks,
  readBootTime,
  readProcessFacts,
  USER_HZ,
  realProcReader,
  type SystemdUnit,
  socketInodes,
} from './proc-facts.ts';
import { programName, type ProcessKind } from './process-kind.ts';

/** Who started a process: a VS Code task (the ledger knows its trees), `vram-guard run`, or someone else. */
export type StartedBy = 'task' | 'run' | 'outside';

export interface ProcessRecognition {
  pid: number;
  /** The kind's id ("llama-server", "ollama", "desktop" ...), or "unknown". */
  kind: string;
  label: string;
  /** The model server kind, when it is one VRAM Guard can ask and size. */
  serverKind: ServerKind | null;
  /** "serve"/"runner" for Ollama, the program for llama.cpp's others ...; null when the kind has one role. */
  role: string | null;
  /** The program's file name. */
  program: string | null;
  model: string | null;
  /** TCP ports it listens on (IPv4 and IPv6), lowest first. */
  ports: number[];
  unit: SystemdUnit | null;
  uid: number | null;
  /** When it started (ms since the epoch); null when /proc does not say. */
  startedAt: number | null;
  startedBy: StartedBy;
  /** What could not be read ("exe: permission denied", "stat: gone"): the answer is partial. Empty when whole. */
  missing: string[];
}

export interface RecogniserOptions {
  procRoot?: string;
  reader?: ProcReader;
  kinds?: readonly ProcessKind[];
  now?: () => number;
  /** A server seen without a listening port is looked at again after this long (it may still be loading). Default 10 s. */
  portRecheckMs?: number;
}

interface Cached {
  startTicks: number;
  /** Its `stat`, held open: one read per refresh says whether it is still the same process. */
  stat: HeldFile;
  recognition: ProcessRecognition;
  portsCheckedAt: number;
  listens: boolean;
}

/** How many parents up a `vram-guard run` is looked for (run → sh → server is two). */
const RUN_ANCESTORS = 4;
const WRAPPER = /(^|\/)(vram-guard|cli\.cjs|cli\.ts)$/;

/** Whether these arguments are `vram-guard run ...` (installed, or the bundled cli.cjs under node). */
export function isRunCommand(argv: readonly string[]): boolean {
  for (let i = 0; i < Math.min(argv.length - 1, 3); i++) if (WRAPPER.test(argv[i] ?? '') && argv[i + 1] === 'run') return true;
  return false;
}

export class ProcessRecogniser {
  private readonly cache = new Map<number, Cached>();
  private readonly procRoot: string;
  private readonly reader: ProcReader;
  private readonly kinds: readonly ProcessKind[];
  private readonly now: () => number;
  private readonly portRecheckMs: number;
  private bootTime: Promise<number | null> | null = null;

  constructor(options: RecogniserOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.reader = options.reader ?? realProcReader;
    this.kinds = options.kinds ?? PROCESS_KINDS;
    this.now = options.now ?? Date.now;
    this.portRecheckMs = options.portRecheckMs ?? 10_000;
  }

  /** Recognises each PID (never throws); forgets PIDs not in this list. */
  async recognise(pids: readonly number[]): Promise<Map<number, ProcessRecognition>> {
    // No /proc to read (Windows, macOS): nothing is recognised, rather than every process "partly read".
    if (this.procRoot === '/proc' && process.platform !== 'linux') return new Map();
    const unique = [...new Set(pids)];
    let sockets: Promise<Map<number, number>> | null = null;
    const listening = () => {
      sockets ??= readListeningSockets(this.procRoot, this.reader);
      return sockets;
    };
    const results = await Promise.all(unique.map((pid) => this.one(pid, listening)));
    const seen = new Set(unique);
    for (const pid of [...this.cache.keys()]) if (!seen.has(pid)) this.forget(pid);
    return new Map(results.map((r) => [r.pid, r]));
  }

  private async one(pid: number, listening: () => Promise<Map<number, number>>): Promise<ProcessRecognition> {
    const cached = this.cache.get(pid);
    if (cached) {
      const ticks = await heldStartTicks(cached.stat);
      if (ticks !== null && ticks === cached.startTicks) {
        if (cached.listens && !cached.recognition.ports.length && this.now() - cached.portsCheckedAt >= this.portRecheckMs) {
          cached.portsCheckedAt = this.now();
          const ports = await this.portsOf(pid, listening);
          if (ports) cached.recognition = { ...cached.recognition, ports };
        }
        return cached.recognition;
      }
      // Gone, or its PID now names another process: recognise it afresh.
      this.forget(pid);
    }
    const held = await this.reader.openSmall(`${this.procRoot}/${pid}/stat`).catch(() => null);
    const startTicks = held ? await heldStartTicks(held) : null;
    const facts = await readProcessFacts(pid, this.procRoot, this.reader);
    const found = this.match(facts);
    this.bootTime ??= readBootTime(this.procRoot, this.reader);
    const [ports, startedBy, modelName, bootTime] = await Promise.all([
      found.kind?.listens ? this.portsOf(pid, listening) : Promise.resolve([] as number[]),
      this.startedBy(facts),
      found.model && found.kind?.modelName ? found.kind.modelName(found.model).catch(() => null) : Promise.resolve(null),
      this.bootTime,
    ]);
    const missing = [...facts.missing];
    if (ports === null) missing.push('fd: permission denied');
    const recognition: ProcessRecognition = {
      pid,
      kind: found.kind?.id ?? 'unknown',
      label: found.kind?.label ?? 'unknown',
      serverKind: found.kind?.serverKind ?? null,
      role: found.role,
      program: programName(facts) || null,
      model: modelName ?? found.model,
      ports: ports ?? [],
      unit: facts.unit,
      uid: facts.uid,
      startedAt: bootTime !== null && startTicks !== null ? bootTime + Math.round((startTicks * 1000) / USER_HZ) : null,
      startedBy,
      missing,
    };
    // A process that is gone, or whose start time could not be read, is not cached: its PID may come back as another.
    if (held && !facts.gone && startTicks !== null && facts.startTicks === startTicks) {
      // Another refresh running at the same time may have cached it first.
      if (this.cache.has(pid)) this.forget(pid);
      this.cache.set(pid, { startTicks, stat: held, recognition, portsCheckedAt: this.now(), listens: found.kind?.listens ?? false });
    } else void held?.close().catch(() => {});
    return recognition;
  }

  private forget(pid: number): void {
    const cached = this.cache.get(pid);
    this.cache.delete(pid);
    void cached?.stat.close().catch(() => {});
  }

  /** Closes the files held for the cache. */
  dispose(): void {
    for (const pid of [...this.cache.keys()]) this.forget(pid);
  }

  private match(facts: ProcessFacts): { kind: ProcessKind | null; role: string | null; model: string | null } {
    for (const kind of this.kinds) {
      try {
        const m = kind.recognise(facts);
        if (m) return { kind, role: m.role, model: m.model };
      } catch {
        // a kind that cannot read these arguments does not recognise them
      }
    }
    return { kind: null, role: null, model: null };
  }

  private async portsOf(pid: number, listening: () => Promise<Map<number, number>>): Promise<number[] | null> {
    const inodes = await socketInodes(pid, this.procRoot, this.reader);
    if (inodes === null) return null;
    if (!inodes.length) return [];
    const table = await listening();
    const ports = new Set<number>();
    for (const inode of inodes) {
      const port = table.get(inode);
      if (port !== undefined) ports.add(port);
    }
    return [...ports].sort((a, b) => a - b);
  }

  /** `run` when a parent up the tree is `vram-guard run`; the ledger turns owned trees into `task`. */
  private async startedBy(facts: ProcessFacts): Promise<StartedBy> {
    let ppid = facts.ppid;
    for (let i = 0; i < RUN_ANCESTORS && ppid !== null && ppid > 1; i++) {
      try {
        const dir = `${this.procRoot}/${ppid}`;
        const [cmdline, stat] = await Promise.all([this.reader.read(`${dir}/cmdline`, 4096), this.reader.read(`${dir}/stat`, 4096)]);
        if (isRunCommand(cmdline.split('\0'))) return 'run';
        ppid = parseStatFields(stat)?.ppid ?? null;
      } catch {
        break;
      }
    }
    return 'outside';
  }
}

/** "llama-server · model.gguf · :8080 · ollama.service (user)" — the parts that are known; with `now`, how long it has run. */
export function recognitionText(r: ProcessRecognition, now?: number): string {
  const parts = [r.role ? `${r.kind} ${r.role}` : r.kind];
  if (r.model) parts.push(r.model);
  if (r.ports.length) parts.push(r.ports.map((p) => `:${p}`).join(','));
  if (r.unit) parts.push(`${r.unit.name}${r.unit.scope === 'user' ? ' (user)' : ''}`);
  if (now !== undefined && r.startedAt !== null) parts.push(`up ${formatDuration(Math.max(0, now - r.startedAt))}`);
  if (r.startedBy !== 'outside') parts.push(`started by ${r.startedBy === 'run' ? 'vram-guard run' : 'a task'}`);
  if (r.missing.length) parts.push(`partly read: ${r.missing.join(', ')}`);
  return parts.join(' · ');
}
