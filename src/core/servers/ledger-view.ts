/**
 * The VRAM ledger as plain data for readers outside VRAM Guard (the exported API, tests): per GPU,
 * the memory of each task or server with its PIDs, the other processes, and the residual.
 */
import type { GpuLedger } from './ledger.ts';
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
}

export interface LedgerProcessView {
  pid: number;
  name: string | null;
  usedBytes: number | null;
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

export function ledgerView(ledger: GpuLedger[], timestamp: number | null): LedgerView {
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
      })),
      other: g.other.map((p) => ({ pid: p.pid, name: p.name, usedBytes: p.usedBytes })),
      residualBytes: g.residualBytes,
      residualHint: g.residualHint,
      reserved: (g.reserved ?? []).map((r) => ({ owner: r.owner, bytes: r.bytes, serverPid: r.serverPid, expiresAt: r.expiresAt })),
    })),
  };
}
