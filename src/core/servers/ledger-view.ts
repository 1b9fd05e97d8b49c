/**
 * The VRAM ledger as plain data for readers outside VRAM Guard (the exported API, tests): per GPU,
 * the memory of each task or server with its PIDs, the other processes, and the residual.
 */
import type { GpuLedger } from './ledger.ts';
import type { ProcessRecognition, StartedBy } from './recognition/recogniser.ts';
import type { Owner } from './server-registry.ts';

export interface LedgerOwnerView {
  /** The task's label or the server's name. */
  name: string;
  /** The server kind, or "task" for an ordinary shell/process task. */
  kind: Owner['kind'];
  /** The process VRAM Guard started (or VS Code reported), the root of its tree. */
  rootPid: number;
  /** The processes of its tree that hold memory on this GPU. */
  pids: number[];
  /** NVML's figure for those processes; null when the driver does not say. */
  nvmlBytes: number | null;
  /** What the server says it holds (Ollama `size_vram`); null when it does not say. */
  reportedBytes: number | null;
  /** What the VRAM gate expected (the task's `needs`, or the GGUF estimate); null when unknown. */
  expectedBytes: number | null;
  /** Models the server says it has loaded. */
  models: string[];
  /** Its GPU processes with what /proc says about them (started by a task); absent when /proc was not read. */
  processes?: LedgerProcessView[];
}

export interface LedgerProcessView {
  pid: number;
  name: string | null;
  usedBytes: number | null;
  /** What /proc says it is (absent when it was not looked at). "unknown" when no kind recognised it. */
  kind?: string;
  /** "serve" or "runner" for Ollama, the program for llama.cpp's others ...; null when the kind has one role. */
  role?: string | null;
  model?: string | null;
  /** The first port it listens on; null when none (or its sockets could not be read). */
  port?: number | null;
  ports?: number[];
  /** Its systemd unit ("ollama.service") and whether it is a user unit; null when it runs in none. */
  unit?: string | null;
  unitScope?: 'user' | 'system' | null;
  uid?: number | null;
  /** When it started (ms since the epoch), from /proc; null when unknown. */
  startedAt?: number | null;
  /** A VS Code task, `vram-guard run`, or outside VRAM Guard. */
  startedBy?: StartedBy;
  /** What /proc would not say (another user's process, one that exited meanwhile). */
  partial?: string[];
  /** The `vram-guard run` it runs under: restarts, and how its command last ended. */
  run?: { restarts: number; lastExit: { code: number | null; signal: string | null; at: number } | null };
  /** The VS Code task it runs under (read from the window's task records): uptime, restarts, last exit. */
  task?: {
    name: string;
    state: string;
    readySince: number | null;
    restarts: number;
    lastExit: { code: number | null; signal: string | null; at: number; lastLines: string[] } | null;
  };
}

/** A process NVML lists, with what /proc says about it. */
export function processView(p: { pid: number; name: string | null; usedBytes: number | null }, r: ProcessRecognition | undefined): LedgerProcessView {
  const base = { pid: p.pid, name: p.name, usedBytes: p.usedBytes };
  if (!r) return base;
  return {
    ...base,
    kind: r.kind,
    role: r.role,
    model: r.model,
    port: r.ports[0] ?? null,
    ports: r.ports,
    unit: r.unit?.name ?? null,
    unitScope: r.unit?.scope ?? null,
    uid: r.uid,
    startedAt: r.startedAt,
    startedBy: r.startedBy,
    partial: r.missing,
  };
}

export interface LedgerGpuView {
  gpu: number;
  name: string | null;
  totalBytes: number | null;
  usedBytes: number | null;
  owners: LedgerOwnerView[];
  /** Processes no task or server owns. */
  other: LedgerProcessView[];
  /** Used memory no running process accounts for; null when some process's memory is not available. */
  residualBytes: number | null;
  residualHint: string | null;
  /** Reserved by servers that passed the gate and are starting (any window or the CLI). */
  reserved: { owner: string; bytes: number; serverPid: number | null; expiresAt: number }[];
}

export interface LedgerView {
  /** The sample's time (ms since the epoch); null when there is no sample yet (or no GPU). */
  timestamp: number | null;
  gpus: LedgerGpuView[];
}

/** `ownersStartedBy`: who started the owners' trees ("task" in VS Code); null keeps what /proc says (the CLI's --owner names any tree). */
export function ledgerView(ledger: GpuLedger[], timestamp: number | null, ownersStartedBy: StartedBy | null = 'task'): LedgerView {
  return {
    timestamp,
    gpus: ledger.map((g) => ({
      gpu: g.gpu,
      name: g.name,
      totalBytes: g.total,
      usedBytes: g.used,
      owners: g.owned.map((e) => ({
        name: e.owner.name,
        kind: e.owner.kind,
        rootPid: e.owner.rootPid,
        pids: e.processes.map((p) => p.pid),
        nvmlBytes: e.nvmlBytes,
        reportedBytes: e.reportedBytes,
        expectedBytes: e.owner.expectedBytes ?? null,
        models: e.report?.models.map((m) => m.name) ?? [],
        ...(g.recognised
          ? {
              processes: e.processes.map((p) => {
                const v = processView(p, g.recognised?.get(p.pid));
                return ownersStartedBy ? { ...v, startedBy: ownersStartedBy } : v;
              }),
            }
          : {}),
      })),
      other: g.other.map((p) => {
        const v = processView(p, g.recognised?.get(p.pid));
        const run = g.runs?.get(p.pid);
        if (run) return { ...v, run: { restarts: run.restarts, lastExit: run.lastExit } };
        const t = g.tasks?.get(p.pid);
        return t
          ? { ...v, startedBy: 'task', task: { name: t.name, state: t.state, readySince: t.readySince, restarts: t.restarts, lastExit: t.lastExit } }
          : v;
      }),
      residualBytes: g.residualBytes,
      residualHint: g.residualHint,
      reserved: (g.reserved ?? []).map((r) => ({ owner: r.owner, bytes: r.bytes, serverPid: r.serverPid, expiresAt: r.expiresAt })),
    })),
  };
}
