/**
 * The dashboard's data, in the protocol's shapes, from the history store, the watcher's latest
 * sample, the VRAM ledger, the servers and the fallback chain. Pure functions (no vscode import), so
 * they are tested in plain Node.
 */
import type { FallbackEvent } from '../../core/fallback/events.ts';
import { describeTrigger, type FallbackMode, type FallbackStep } from '../../core/servers/fallback-steps.ts';
import type { GpuLedger } from '../../core/servers/ledger.ts';
import type { ManagedServer } from '../../core/servers/managed-server.ts';
import { partRows, printedFootprint } from '../../core/estimate/printed-footprint.ts';
import { MiB } from '../../core/units.ts';
import type { HistoryStore, SeriesKey } from '../../core/history/store.ts';
import type { HistoryEvent, SystemMemory } from '../../core/history/types.ts';
import { resolveThresholds, type ResolvedThresholds, type ThresholdSpec } from '../../core/watch/thresholds.ts';
import type { WatchedSample } from '../../core/watch/watcher.ts';
import type { ChainView, DryRunPlan, GpuInfo, Marker, ProcessTable, RangeData, SampleUpdate, SeriesData, ServerCard, Thresholds } from '../../protocol.ts';
import { recognitionText, type ProcessRecognition } from '../../core/servers/recognition/recogniser.ts';

/** Points per series in the first picture: about two per pixel of a wide chart. */
export const INIT_POINTS = 3000;

/** Bytes → MiB with one decimal. */
export const toMiB = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;
const toMiBOrNull = (bytes: number | null | undefined): number | null => (bytes === null || bytes === undefined ? null : toMiB(bytes));

function thresholdsMiB(t: ResolvedThresholds | null): Thresholds | null {
  return t ? { warning: toMiB(t.warning), critical: toMiB(t.critical), emergency: toMiB(t.emergency) } : null;
}

/** Every GPU the live sample or the history knows, with its thresholds and level. */
export function gpuInfos(latest: WatchedSample | null, store: HistoryStore, spec: ThresholdSpec): GpuInfo[] {
  const out = new Map<number, GpuInfo>();
  latest?.sample.devices.forEach((d, i) => {
    if (!d.memory) return;
    out.set(d.index, {
      gpu: d.index,
      name: d.name,
      totalMiB: toMiB(d.memory.total),
      thresholds: thresholdsMiB(latest.thresholds[i] ?? null),
      level: latest.levels[i] ?? null,
    });
  });
  for (const gpu of store.gpus()) {
    if (out.has(gpu)) continue;
    const total = store.totalOf(gpu);
    if (total === null) continue;
    out.set(gpu, { gpu, name: null, totalMiB: toMiB(total), thresholds: thresholdsMiB(resolveThresholds(spec, total).thresholds), level: null });
  }
  return [...out.values()].sort((a, b) => a.gpu - b.gpu);
}

function seriesMiB(store: HistoryStore, key: SeriesKey, from: number, to: number, maxPoints: number): SeriesData {
  const p = store.range(key, from, to, maxPoints);
  const v = p.v.map((bytes) => toMiB(bytes));
  return { t: p.t, v };
}

/** Every series in [from, to], each min/max downsampled to at most `maxPoints`. */
export function rangeData(store: HistoryStore, from: number, to: number, maxPoints: number): RangeData {
  const system = store.latestSystem();
  return {
    from,
    to,
    gpus: store.gpus().map((gpu) => ({ gpu, ...seriesMiB(store, `gpu:${gpu}`, from, to, maxPoints) })),
    ram: seriesMiB(store, 'ram', from, to, maxPoints),
    swap: seriesMiB(store, 'swap', from, to, maxPoints),
    ramTotalMiB: toMiBOrNull(system?.ramTotal),
    swapTotalMiB: toMiBOrNull(system?.swapTotal),
  };
}

export function markerOf(e: HistoryEvent): Marker {
  return { t: e.t, kind: e.kind, gpu: e.gpu, text: e.text, level: e.level, beforeMiB: toMiBOrNull(e.usedBefore), afterMiB: toMiBOrNull(e.usedAfter) };
}

/** The per-sample update: a few numbers per GPU (well under 1 KB). */
export function sampleUpdate(w: WatchedSample, system: SystemMemory | null): SampleUpdate {
  const g: SampleUpdate['g'] = [];
  w.sample.devices.forEach((d, i) => {
    if (d.memory) g.push([d.index, toMiB(d.memory.used), toMiB(d.memory.total), w.levels[i] ?? 'ok']);
  });
  return { t: w.sample.timestamp, g, m: system ? [toMiB(system.ramUsed), toMiB(system.swapUsed)] : null };
}

/** A process no task owns, with what /proc says it is: "ollama (ollama runner · :11434 · ollama.service)". */
function otherName(p: { name: string | null }, r: ProcessRecognition | undefined): string {
  const name = p.name ?? r?.program ?? '?';
  return r && r.kind !== 'unknown' ? `${name} (${recognitionText(r)})` : name;
}

/** The processes table per GPU: owned processes (with their task), the others, and the residual. */
export function processTables(ledger: GpuLedger[]): ProcessTable[] {
  return ledger.map((g) => {
    const share = (b: number | null) => (b === null || !g.used ? null : Math.round((b / g.used) * 1000) / 10);
    const rows = [
      ...g.owned.flatMap((e) =>
        e.processes.map((p) => ({ pid: p.pid, name: p.name ?? '?', owner: e.owner.name, vramMiB: toMiBOrNull(p.usedBytes), share: share(p.usedBytes) })),
      ),
      ...g.other.map((p) => ({
        pid: p.pid,
        name: otherName(p, g.recognised?.get(p.pid)),
        owner: null,
        vramMiB: toMiBOrNull(p.usedBytes),
        share: share(p.usedBytes),
      })),
      // Reserved by a server that passed the gate and is starting: not in NVML yet, counted by the next gate.
      ...(g.reserved ?? []).map((r) => ({
        pid: r.serverPid ?? r.holderPid,
        name: 'reserved (starting)',
        owner: r.owner,
        vramMiB: toMiB(r.bytes),
        share: null,
      })),
    ].sort((a, b) => (b.vramMiB ?? -1) - (a.vramMiB ?? -1));
    return { gpu: g.gpu, usedMiB: toMiBOrNull(g.used), rows, residualMiB: toMiBOrNull(g.residualBytes), residualHint: g.residualHint };
  });
}

/**
 * One card per server: its state, what it reports, its VRAM by NVML and by its own account, and its
 * life: since when it is ready (against the uptime target), its restarts and its last failure.
 */
export function serverCards(servers: ManagedServer[], ledger: GpuLedger[], uptimeTargetHours = 8): ServerCard[] {
  return servers.map((s) => {
    const entry = ledger.flatMap((g) => g.owned).find((e) => e.owner.name === s.name) ?? null;
    const report = entry?.report ?? null;
    const health: ServerCard['health'] =
      report === null ? 'unknown' : !report.reachable ? 'unreachable' : report.healthy === null ? 'unknown' : report.healthy ? 'healthy' : 'unhealthy';
    return {
      name: s.name,
      kind: s.task.server,
      state: s.state,
      pid: s.pid,
      gpu: s.task.gpu,
      health,
      models: (report?.models ?? []).map((m) => ({ name: m.name, vramMiB: toMiBOrNull(m.vramBytes), context: m.contextLength })),
      context: report?.contextLength ?? s.currentContext(),
      sleeping: report?.sleeping ?? null,
      nvmlMiB: toMiBOrNull(entry?.nvmlBytes),
      reportedMiB: toMiBOrNull(entry?.reportedBytes),
      error: report?.error ?? null,
      readySince: s.state === 'ready' ? s.readyAt : null,
      uptimeTargetHours,
      restarts: s.restarts,
      restartPolicy: s.task.restart.onFailure ? `on-failure, at most ${s.task.restart.maxPerHour} an hour` : null,
      lastExit: s.lastFailure
        ? { at: s.lastFailure.at, code: s.lastFailure.exit.exitCode, signal: s.lastFailure.exit.signal, lastLines: s.lastFailure.lastLines }
        : null,
      parts: cardParts(s),
    };
  });
}

/** The gate's estimate and llama.cpp's printed report of this start, part by part; null when there is neither. */
function cardParts(s: ManagedServer): ServerCard['parts'] {
  const estimate = s.lastGate?.footprint?.estimate ?? null;
  const parser = s.loadReport;
  const printed = parser?.completedAt ? printedFootprint(parser.report(), new Date(parser.completedAt)) : null;
  if (!estimate && !printed) return null;
  return {
    rows: partRows(estimate, printed).map((r) => ({ part: r.part, estimateMiB: toMiBOrNull(r.estimateBytes), printedMiB: toMiBOrNull(r.printedBytes) })),
    printedAt: printed ? printed.printedAt : null,
  };
}

/** The chain's steps in order, its mode, and its last actions (newest first). */
export function chainView(steps: FallbackStep[], mode: FallbackMode, events: readonly FallbackEvent[], busy: boolean, keep = 20): ChainView {
  return {
    mode,
    busy,
    steps: steps.map((s, index) => ({
      index,
      label: s.label,
      action: s.action,
      target: s.target,
      trigger: describeTrigger(s.trigger),
      mode: s.mode ?? mode,
      ownMode: s.mode !== null,
    })),
    actions: events
      .slice(-keep)
      .reverse()
      .map((e) => ({
        t: e.time,
        gpu: e.gpu,
        step: e.step,
        label: e.label,
        origin: e.origin,
        result: e.result,
        message: e.message,
        beforeMiB: toMiB(e.usedBefore),
        afterMiB: toMiBOrNull(e.usedAfter),
      })),
  };
}

/** A dry run's events as the page shows them: per GPU and step, what would happen, at `t`. */
export function dryRunPlan(events: readonly FallbackEvent[], t: number): DryRunPlan {
  return {
    t,
    steps: events.map((e) => ({
      gpu: e.gpu,
      level: e.level,
      step: e.step,
      label: e.label,
      mode: e.mode,
      result: e.result,
      message: e.message,
      usedMiB: toMiB(e.usedBefore),
      totalMiB: toMiB(e.totalBytes),
    })),
  };
}
