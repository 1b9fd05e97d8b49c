/**
 * The VRAM ledger: NVML's per-process memory joined to process trees, tasks and servers. For each
 * GPU: memory by task/server (with what the server itself reports beside it), other processes, and
 * the residual — used memory that no running process accounts for (processes that are gone, or the
 * driver) — shown apart, with a hint when it is large.
 */
import type { GpuProcess, GpuSample } from '../gpu/types.ts';
import { formatMiB, MiB } from '../units.ts';
import { adapterFor } from './adapters/index.ts';
import { reportedVram, type ServerReport } from './adapters/types.ts';
import { readProcessTable, treeOf, type ProcessTable } from './process-tree.ts';
import type { Owner } from './owner.ts';
import { compareEstimate } from '../estimate/estimate-comparison.ts';
import type { Reservation } from './reservations.ts';
import { ProcessRecogniser, recognitionText, type ProcessRecognition } from './recognition/recogniser.ts';
import type { RunRecord } from './run-records.ts';
import type { TaskRecord } from './task-records.ts';
import { formatDuration } from '../duration.ts';

export interface LedgerEntry {
  owner: Owner;
  /** The owner's processes that hold memory on this GPU. */
  processes: GpuProcess[];
  /** NVML's figure: the sum of those processes; null when the driver does not say (WDDM, WSL). */
  nvmlBytes: number | null;
  /** What the server says it holds (Ollama `size_vram`); null when it does not say. */
  reportedBytes: number | null;
  report: ServerReport | null;
}

export interface GpuLedger {
  gpu: number;
  name: string | null;
  total: number | null;
  used: number | null;
  owned: LedgerEntry[];
  /** Processes that belong to no known task or server. */
  other: GpuProcess[];
  /** used − the sum of every process; null when some process's memory is not available. */
  residualBytes: number | null;
  residualHint: string | null;
  /** Memory servers that passed the gate have reserved here and NVML does not show yet. */
  reserved?: Reservation[];
  /** What /proc says each process is (kind, model, ports, unit, who started it), by PID. */
  recognised?: ReadonlyMap<number, ProcessRecognition>;
  /** The `vram-guard run` each process runs under (its restarts and last exit), by PID. */
  runs?: ReadonlyMap<number, RunRecord>;
  /** The VS Code task each process runs under (its uptime, restarts and last exit), by PID. */
  tasks?: ReadonlyMap<number, TaskRecord>;
}

export interface LedgerInput {
  sample: GpuSample;
  table: ProcessTable;
  owners: Owner[];
  reports?: ReadonlyMap<string, ServerReport>;
  /** Residual above this gets a hint (default 256 MiB). */
  residualHintBytes?: number;
  reservations?: readonly Reservation[];
  recognised?: ReadonlyMap<number, ProcessRecognition>;
  /** What each `vram-guard run` runs: the processes of its command's tree are shown with it. */
  runRecords?: readonly RunRecord[];
  /** What each window's tasks run (task-records.ts): the processes of a task's tree are shown with it. */
  taskRecords?: readonly TaskRecord[];
}

export function buildLedger(input: LedgerInput): GpuLedger[] {
  const ownerOf = new Map<number, Owner>();
  for (const owner of input.owners) {
    for (const pid of treeOf(owner.rootPid, input.table)) if (!ownerOf.has(pid)) ownerOf.set(pid, owner);
  }
  const runs = new Map<number, RunRecord>();
  for (const r of input.runRecords ?? []) if (r.childPid !== null) for (const pid of treeOf(r.childPid, input.table)) runs.set(pid, r);
  const tasks = new Map<number, TaskRecord>();
  for (const r of input.taskRecords ?? []) if (r.pid !== null) for (const pid of treeOf(r.pid, input.table)) tasks.set(pid, r);
  const hintAt = input.residualHintBytes ?? 256 * MiB;
  return input.sample.devices.map((device) => {
    const byOwner = new Map<string, LedgerEntry>();
    const other: GpuProcess[] = [];
    let known = 0;
    let unknown = false;
    for (const p of device.processes) {
      if (p.usedBytes === null) unknown = true;
      else known += p.usedBytes;
      const owner = ownerOf.get(p.pid);
      if (!owner) {
        other.push(p);
        continue;
      }
      let entry = byOwner.get(owner.name);
      if (!entry) {
        const report = input.reports?.get(owner.name) ?? null;
        entry = { owner, processes: [], nvmlBytes: 0, reportedBytes: report ? reportedVram(report) : null, report };
        byOwner.set(owner.name, entry);
      }
      entry.processes.push(p);
      entry.nvmlBytes = entry.nvmlBytes === null || p.usedBytes === null ? null : entry.nvmlBytes + p.usedBytes;
    }
    // Servers that hold nothing on this GPU still show, with what they report, on the GPU they use.
    for (const owner of input.owners) {
      const report = input.reports?.get(owner.name);
      if (!byOwner.has(owner.name) && report && device.index === (owner.gpu ?? 0))
        byOwner.set(owner.name, { owner, processes: [], nvmlBytes: 0, reportedBytes: reportedVram(report), report });
    }
    const used = device.memory?.used ?? null;
    const residual = used === null || unknown ? null : Math.max(0, used - known);
    const residualHint =
      residual !== null && residual >= hintAt
        ? `${formatMiB(residual)} of used VRAM belongs to no running process: memory still held for processes that have exited, or by the driver. Is it a leak? If it stays after the servers are stopped, a crashed process may still hold it (look for it with nvidia-smi, or restart the server that used it); a model measured now would look bigger than it is.`
        : null;
    return {
      gpu: device.index,
      name: device.name,
      total: device.memory?.total ?? null,
      used,
      owned: [...byOwner.values()].sort((a, b) => (b.nvmlBytes ?? 0) - (a.nvmlBytes ?? 0)),
      other,
      residualBytes: residual,
      residualHint,
      reserved: (input.reservations ?? []).filter((r) => r.gpu === device.index),
      recognised: input.recognised,
      runs,
      tasks,
    };
  });
}

/** Reads the process table and asks each server what it holds, then builds the ledger. */
export interface CollectOptions {
  timeoutMs?: number;
  fetch?: typeof fetch;
  residualHintBytes?: number;
  /** Told once per server and problem: a reply that could not be used, or figures that were dropped. */
  log?: (message: string) => void;
  /** The problems already told, by server (the caller keeps it between collections). */
  told?: Map<string, string>;
  /** Memory reserved by gates that passed, for servers not yet in NVML. */
  reservations?: readonly Reservation[];
  /** Names every GPU process from /proc; keep one between collections so its cache serves (default: a new one). */
  recogniser?: ProcessRecogniser;
  /** What each `vram-guard run` runs (run-records.ts). */
  runRecords?: readonly RunRecord[];
  /** What each window's tasks run (task-records.ts). */
  taskRecords?: readonly TaskRecord[];
}

export async function collectLedger(sample: GpuSample, owners: Owner[], options: CollectOptions = {}): Promise<GpuLedger[]> {
  const pids = sample.devices.flatMap((d) => d.processes.map((p) => p.pid));
  const [table, reports, recognised] = await Promise.all([
    readProcessTable(),
    (async () => {
      const out = new Map<string, ServerReport>();
      await Promise.all(
        owners.map(async (o) => {
          const adapter = adapterFor(o.kind);
          if (!adapter || !o.baseUrl) return;
          const report = await adapter.report(o.baseUrl, { timeoutMs: options.timeoutMs ?? 1000, fetch: options.fetch });
          out.set(o.name, report);
          tellProblem(o.name, report, options);
        }),
      );
      return out;
    })(),
    (async () => {
      const recogniser = options.recogniser ?? new ProcessRecogniser();
      try {
        return await recogniser.recognise(pids);
      } finally {
        if (!options.recogniser) recogniser.dispose();
      }
    })(),
  ]);
  return buildLedger({
    sample,
    table,
    owners,
    reports,
    residualHintBytes: options.residualHintBytes,
    reservations: options.reservations,
    recognised,
    runRecords: options.runRecords,
    taskRecords: options.taskRecords,
  });
}

/** NVML's figure for the process tree under `rootPid` on one GPU; null when the driver does not say. */
export function treeBytesOnGpu(sample: GpuSample, gpu: number, rootPid: number, table: ProcessTable): number | null {
  const device = sample.devices.find((d) => d.index === gpu);
  if (!device) return null;
  const pids = new Set(treeOf(rootPid, table));
  let sum = 0;
  for (const p of device.processes) {
    if (!pids.has(p.pid)) continue;
    if (p.usedBytes === null) return null;
    sum += p.usedBytes;
  }
  return sum;
}

/** Logs a server's unusable reply or dropped figures, once until it changes. */
function tellProblem(name: string, report: ServerReport, options: CollectOptions): void {
  const problem = report.reachable && report.error ? `${report.healthy === null ? 'state unknown' : 'partly read'}: ${report.error}` : '';
  if (options.told?.get(name) === problem) return;
  options.told?.set(name, problem);
  if (problem) options.log?.(`server "${name}" (${report.kind}) ${problem}`);
}

const mib = (b: number | null) => (b === null ? 'N/A' : formatMiB(b));

/** The ledger as text, for the log and the task's terminal. */
export function ledgerText(ledger: GpuLedger[], now: number = Date.now()): string {
  const lines: string[] = [];
  for (const g of ledger) {
    lines.push(`GPU ${g.gpu}${g.name ? ` · ${g.name}` : ''}: ${mib(g.used)} used of ${mib(g.total)}`);
    for (const e of g.owned) {
      const said = e.reportedBytes !== null ? ` · server says ${formatMiB(e.reportedBytes)}` : '';
      const ctx = e.report?.contextLength ?? e.report?.models.find((m) => m.contextLength !== null)?.contextLength ?? null;
      const models = e.report?.models.length
        ? ` · ${e.report.models.map((m) => `${m.name}${m.contextLength ? ` (ctx ${m.contextLength})` : ''}`).join(', ')}`
        : '';
      const expected =
        e.owner.expectedBytes && e.nvmlBytes !== null ? ` · ${compareEstimate(e.owner.expectedBytes, { bytes: e.nvmlBytes, by: 'NVML' }).summary}` : '';
      lines.push(
        `  ${mib(e.nvmlBytes).padStart(9)}  ${e.owner.name} [${e.owner.kind}] PID ${e.processes.map((p) => p.pid).join(',') || e.owner.rootPid}${said}${models}${!models && ctx ? ` · ctx ${ctx}` : ''}${expected}`,
      );
    }
    for (const p of g.other) {
      const r = g.recognised?.get(p.pid);
      const run = g.runs?.get(p.pid);
      const task = g.tasks?.get(p.pid);
      const known = r && task ? { ...r, startedBy: 'task' as const } : r;
      const what = known && (known.kind !== 'unknown' || known.startedBy !== 'outside') ? recognitionText(known, now) : 'other';
      const life = run ? ` · ${runText(run)}` : task ? ` · ${taskText(task, now)}` : '';
      lines.push(`  ${mib(p.usedBytes).padStart(9)}  ${p.name ?? r?.program ?? '?'} (PID ${p.pid}) — ${what}${life}`);
    }
    for (const r of g.reserved ?? [])
      lines.push(`  ${mib(r.bytes).padStart(9)}  reserved for "${r.owner}" (starting${r.serverPid ? `, PID ${r.serverPid}` : ''}; not in NVML yet)`);
    lines.push(`  ${mib(g.residualBytes).padStart(9)}  residual (no running process)`);
    if (g.residualHint) lines.push(`  ↳ ${g.residualHint}`);
  }
  return lines.join('\n');
}

/** "restarted 2 times, last exit code 3 at 21:04:05" for a `vram-guard run`'s command. */
export function runText(r: RunRecord): string {
  const restarts = r.restarts ? `restarted ${r.restarts} time${r.restarts === 1 ? '' : 's'}` : 'not restarted';
  const e = r.lastExit;
  const last = e ? `, last exit ${e.signal ? `by ${e.signal}` : `code ${e.code}`} at ${new Date(e.at).toISOString()}` : '';
  return `vram-guard run: ${restarts}${last}`;
}

/** 'task "speech": ready for 2 h 14 m, restarted 1 time, last exit code 3 at … ("CUDA error: …")' for a VS Code task's server. */
export function taskText(t: TaskRecord, now: number = Date.now()): string {
  const life = t.readySince !== null ? `ready for ${formatDuration(Math.max(0, now - t.readySince))}` : t.state;
  const restarts = t.restarts ? `restarted ${t.restarts} time${t.restarts === 1 ? '' : 's'}` : 'not restarted';
  const e = t.lastExit;
  const lastLine = e?.lastLines.filter((l) => l.trim()).at(-1);
  const last = e
    ? `, last exit ${e.signal ? `by ${e.signal}` : `code ${e.code}`} at ${new Date(e.at).toISOString()}${lastLine ? ` (${JSON.stringify(lastLine.slice(0, 120))})` : ''}`
    : '';
  return `task "${t.name}": ${life}, ${restarts}${last}`;
}
