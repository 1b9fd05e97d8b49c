/**
 * The VRAM budget spike, as a user measured it by hand: baseline (settle, median of N samples) →
 * start server A → settle → measure → start B → settle → measure → every server under load at once
 * (R rounds) while sampling fast (≥ 10 Hz) for the peak → stop what the spike started (or leave it
 * running). GO when the peak stays below the WARNING threshold, NO-GO otherwise.
 *
 * Time, the GPU, the servers and the load are injected, so the logic is tested without sleeping.
 * Cancellable at every step; a cancelled or failed spike returns what it measured, marked
 * incomplete, and stops every server it started.
 */
import type { Clock } from '../clock.ts';
import type { GpuSample, SourceKind } from '../gpu/types.ts';
import type { GpuLedger } from '../servers/ledger.ts';
import type { Owner } from '../servers/server-registry.ts';
import type { StopResult } from '../servers/server-process.ts';
import { rawLevel } from '../watch/classifier.ts';
import type { Level } from '../watch/levels.ts';
import { resolveThresholds, type ThresholdSpec } from '../watch/thresholds.ts';
import { describeLoad, type LoadOptions, type LoadResult } from './spike-load.ts';
import type { LaunchedServer, SpikeLauncher } from './spike-launcher.ts';
import type { SpikeServer, SpikeSpec, SpikeTiming } from './spike-spec.ts';
import { errorMessage } from '../errors.ts';
import { formatDuration } from '../duration.ts';
import { estimateSpikeServer, type SpikeEstimate } from './spike-estimate.ts';

export interface SpikeDeps {
  /** One sample of every GPU; throws when the source broke. */
  sample: () => Promise<GpuSample>;
  source: { kind: SourceKind; description: string };
  thresholds: ThresholdSpec;
  clock: Clock;
  launcher: SpikeLauncher;
  load: (server: SpikeServer, options: LoadOptions) => Promise<LoadResult>;
  /** Each server's estimate from its arguments (default: the gate's); null: none. */
  estimate?: (server: SpikeServer, sample: GpuSample, gpu: number) => Promise<SpikeEstimate>;
  /** Per-server VRAM: NVML's processes joined to each server's process tree, and what the server reports. */
  ledger?: (sample: GpuSample, owners: Owner[]) => Promise<GpuLedger[]>;
}

export type SpikeStep = 'baseline' | 'starting' | 'warming-up' | 'settling' | 'measuring' | 'load' | 'stopping' | 'done';

export interface SpikeProgress {
  step: SpikeStep;
  /** The server the step is about, if any. */
  server: string | null;
  message: string;
  /** How far the spike is, from 0 to 1. */
  fraction: number;
}

export interface SpikeRunOptions {
  signal?: AbortSignal;
  onProgress?: (p: SpikeProgress) => void;
}

export interface SpikeRow {
  kind: 'baseline' | 'server' | 'peak';
  label: string;
  /** The server this row added; null for the baseline and the peak. */
  server: string | null;
  usedBytes: number;
  /** Used, in % of the total. */
  percent: number;
  /** Against the row before; null for the baseline. */
  deltaBytes: number | null;
  /** What the figure is made of: the samples of a measurement (the median kept), or the peak's count. */
  samples: number[];
}

export interface LoadStats {
  request: string;
  warmUp: LoadResult | null;
  sent: number;
  ok: number;
  failed: number;
  meanMs: number | null;
  maxMs: number | null;
  errors: string[];
}

export interface SpikeServerResult {
  name: string;
  kind: SpikeServer['task']['server'];
  command: string[];
  pid: number | null;
  readyMs: number | null;
  /** Used VRAM it added when it started (its row's delta). */
  addedBytes: number | null;
  /** NVML: its process tree's memory with every server loaded; null when not measured or not available. */
  nvmlBytes: number | null;
  /** What the server says it holds (Ollama `size_vram`); null when it does not say. */
  reportedBytes: number | null;
  /** The estimate from its arguments (the gate's), at the free memory the spike began with; null when it names no model. */
  estimateBytes: number | null;
  /** What the estimate assumed or why there is none (--fit taking all free memory, a model that cannot be read). */
  estimateNote: string | null;
  models: string[];
  load: LoadStats;
  startError: string | null;
  lastLines: string[];
  /** How it ended: stopped (how), left running, or never started (null). */
  stop: { how: StopResult['how'] | 'left-running' | 'failed'; waitedMs: number; detail: string | null } | null;
}

export interface SpikePeak {
  usedBytes: number;
  /** Milliseconds after the load started. */
  atMs: number;
  sampleCount: number;
  durationMs: number;
  /** Samples per second actually achieved. */
  rateHz: number;
  rounds: number;
  trace: Array<{ ms: number; usedBytes: number }>;
}

export interface SpikeDecision {
  verdict: 'GO' | 'NO-GO';
  warningBytes: number;
  /** warning − peak: room left below WARNING (negative: how far above it). */
  marginBytes: number;
  /** The level the peak reaches. */
  level: Level;
  thresholds: { warning: number; critical: number; emergency: number };
  /** A threshold setting that did not fit this GPU (the defaults were used). */
  thresholdProblem: string | null;
}

export type SpikeStatus = 'complete' | 'cancelled' | 'failed';

export interface SpikeReport {
  status: SpikeStatus;
  /** Why it did not complete; null when it did. */
  problem: string | null;
  startedAt: string;
  finishedAt: string;
  source: { kind: SourceKind; description: string };
  driverVersion: string | null;
  gpu: { index: number; name: string | null; uuid: string | null; totalBytes: number } | null;
  timing: SpikeTiming;
  leaveRunning: boolean;
  rows: SpikeRow[];
  peak: SpikePeak | null;
  /** total − peak; null without a peak. */
  headroomBytes: number | null;
  decision: SpikeDecision | null;
  servers: SpikeServerResult[];
  /** Used VRAM once the servers were stopped, and how far above the baseline it stayed. */
  afterStop: { usedBytes: number; aboveBaselineBytes: number | null } | null;
  notes: string[];
}

class Cancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Cancelled';
  }
}

/** A sleep on the injected clock that a cancel interrupts. */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Cancelled());
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(new Cancelled());
    };
    const handle = clock.setTimeout(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const upper = s[mid];
  if (upper === undefined) throw new Error('the median of no values is undefined');
  return s.length % 2 ? upper : Math.round(((s[mid - 1] ?? upper) + upper) / 2);
}

const percent = (used: number, total: number) => (total > 0 ? (used / total) * 100 : 0);

export async function runSpike(spec: SpikeSpec, deps: SpikeDeps, options: SpikeRunOptions = {}): Promise<SpikeReport> {
  const signal = options.signal ?? new AbortController().signal;
  const { clock } = deps;
  const t = spec.timing;
  const report: SpikeReport = {
    status: 'complete',
    problem: null,
    startedAt: new Date(clock.now()).toISOString(),
    finishedAt: '',
    source: deps.source,
    driverVersion: null,
    gpu: null,
    timing: t,
    leaveRunning: spec.leaveRunning,
    rows: [],
    peak: null,
    headroomBytes: null,
    decision: null,
    servers: spec.servers.map((s) => ({
      name: s.name,
      kind: s.task.server,
      command: [...s.task.command, ...s.task.args],
      pid: null,
      readyMs: null,
      addedBytes: null,
      nvmlBytes: null,
      reportedBytes: null,
      estimateBytes: null,
      estimateNote: null,
      models: [],
      load: { request: describeLoad(s), warmUp: null, sent: 0, ok: 0, failed: 0, meanMs: null, maxMs: null, errors: [] },
      startError: null,
      lastLines: [],
      stop: null,
    })),
    afterStop: null,
    notes: [],
  };
  const started: Array<{ server: SpikeServer; result: SpikeServerResult; handle: LaunchedServer }> = [];
  const steps = 2 + spec.servers.length + 1;
  let stepIndex = 0;
  const progress = (step: SpikeStep, server: string | null, message: string) =>
    options.onProgress?.({ step, server, message, fraction: Math.min(1, stepIndex / steps) });
  const check = () => {
    if (signal.aborted) throw new Cancelled();
  };
  let total = 0;
  let lastSample: GpuSample | null = null;

  const readUsed = async (): Promise<number> => {
    const sample = await deps.sample();
    lastSample = sample;
    const device = sample.devices.find((d) => d.index === spec.gpu);
    if (!device) throw new Error(`GPU ${spec.gpu} is no longer in the source's list (${sample.devices.map((d) => d.index).join(', ') || 'no GPUs'}).`);
    if (!device.memory) throw new Error(`GPU ${spec.gpu} could not be read${device.error ? ` (${device.error.code}: ${device.error.message})` : ''}.`);
    return device.memory.used;
  };

  /** Settle, then the median of N samples. */
  const measure = async (): Promise<number[]> => {
    await sleep(clock, t.settleMs, signal);
    const values: number[] = [];
    for (let i = 0; i < t.samples; i++) {
      if (i > 0) await sleep(clock, t.measureIntervalMs, signal);
      check();
      values.push(await readUsed());
    }
    return values;
  };

  const addRow = (kind: SpikeRow['kind'], label: string, server: string | null, usedBytes: number, samples: number[]) => {
    const prev = report.rows.at(-1);
    const row: SpikeRow = { kind, label, server, usedBytes, percent: percent(usedBytes, total), deltaBytes: prev ? usedBytes - prev.usedBytes : null, samples };
    report.rows.push(row);
    return row;
  };

  const recordLoad = (stats: LoadStats, r: LoadResult) => {
    stats.sent++;
    if (r.ok) stats.ok++;
    else {
      stats.failed++;
      if (r.error && stats.errors.length < 5 && !stats.errors.includes(r.error)) stats.errors.push(r.error);
    }
    const n = stats.sent;
    stats.meanMs = Math.round(((stats.meanMs ?? 0) * (n - 1) + r.ms) / n);
    stats.maxMs = Math.max(stats.maxMs ?? 0, r.ms);
  };

  try {
    check();
    const first = await deps.sample();
    lastSample = first;
    report.driverVersion = first.driverVersion;
    const device = first.devices.find((d) => d.index === spec.gpu);
    if (!device?.memory) {
      const present = first.devices.map((d) => d.index).join(', ');
      throw new Error(
        device
          ? `GPU ${spec.gpu} could not be read${device.error ? ` (${device.error.code}: ${device.error.message})` : ''}.`
          : `GPU ${spec.gpu} was not found (${present ? `this machine has GPU ${present}` : 'the source sees no GPU'}).`,
      );
    }
    total = device.memory.total;
    report.gpu = { index: device.index, name: device.name, uuid: device.uuid, totalBytes: total };
    // What each server should take, sized from its own arguments as the VRAM gate sizes it.
    const estimates = await Promise.all(spec.servers.map((server) => (deps.estimate ?? estimateSpikeServer)(server, first, spec.gpu).catch(() => null)));
    report.servers.forEach((result, i) => {
      const e = estimates[i];
      result.estimateBytes = e?.bytes ?? null;
      result.estimateNote = e?.note ?? null;
    });

    progress('baseline', null, `baseline: settling ${formatDuration(t.settleMs)}, then ${t.samples} samples`);
    const base = await measure();
    addRow('baseline', 'Baseline', null, median(base), base);
    stepIndex++;

    for (const [i, server] of spec.servers.entries()) {
      const result = report.servers[i];
      if (!result) throw new Error(`the report has no entry for "${server.name}"`);
      check();
      progress('starting', server.name, `starting ${server.name}${server.task.healthUrl ? ` (waiting for ${server.task.healthUrl})` : ''}`);
      const launched = await deps.launcher.start(server, signal);
      if (!launched.ok) {
        result.lastLines = launched.lastLines;
        if (launched.cancelled || signal.aborted) throw new Cancelled();
        result.startError = launched.message;
        throw new Error(`"${server.name}" did not start: ${launched.message}`);
      }
      result.pid = launched.server.pid;
      result.readyMs = Math.round(launched.readyMs);
      started.push({ server, result, handle: launched.server });
      if (server.load.kind !== 'none') {
        // Servers that load their model on the first request (Ollama) hold it from here on.
        progress('warming-up', server.name, `${server.name}: one request so its model is loaded`);
        const warm = await deps.load(server, { timeoutMs: t.requestTimeoutMs, signal });
        check();
        result.load.warmUp = warm;
        if (!warm.ok)
          report.notes.push(
            `The first request to "${server.name}" failed (${warm.error ?? 'no reason given'}): its model may not be loaded, so its row can be too low.`,
          );
      }
      progress('settling', server.name, `${server.name} is ready; settling ${formatDuration(t.settleMs)}, then ${t.samples} samples`);
      const values = await measure();
      result.addedBytes = addRow('server', `+ ${server.name}`, server.name, median(values), values).deltaBytes;
      if (launched.server.exited())
        throw new Error(`"${server.name}" exited while it was measured. Its last log lines:\n${launched.server.lastLines().join('\n')}`);
      stepIndex++;
    }

    check();
    progress(
      'load',
      null,
      `concurrent load: ${t.rounds} round${t.rounds === 1 ? '' : 's'} to ${spec.servers.filter((s) => s.load.kind !== 'none').length} server(s), sampling every ${t.peakIntervalMs} ms`,
    );
    report.peak = await loadPhase(
      spec,
      deps,
      signal,
      (name, r) => {
        const result = report.servers.find((s) => s.name === name);
        if (!result) throw new Error(`the report has no entry for "${name}"`);
        recordLoad(result.load, r);
      },
      readUsed,
    );
    addRow('peak', 'Concurrent inference peak', null, report.peak.usedBytes, [report.peak.sampleCount]);
    stepIndex++;

    for (const { result, handle } of started)
      if (handle.exited()) throw new Error(`"${result.name}" exited during the load. Its last log lines:\n${handle.lastLines().join('\n')}`);
    if (deps.ledger && lastSample) await attribute(deps.ledger, lastSample, spec, started, report);

    const peak = report.peak.usedBytes;
    report.headroomBytes = total - peak;
    const { thresholds: th, problem } = resolveThresholds(deps.thresholds, total);
    report.decision = {
      verdict: peak < th.warning ? 'GO' : 'NO-GO',
      warningBytes: th.warning,
      marginBytes: th.warning - peak,
      level: rawLevel(peak, th),
      thresholds: { warning: th.warning, critical: th.critical, emergency: th.emergency },
      thresholdProblem: problem,
    };
    for (const s of report.servers)
      if (s.load.failed)
        report.notes.push(`${s.load.failed} of ${s.load.sent} load requests to "${s.name}" failed: the peak may be lower than under real use.`);
  } catch (err) {
    if (err instanceof Cancelled || signal.aborted) {
      report.status = 'cancelled';
      report.problem = 'The spike was cancelled.';
    } else {
      report.status = 'failed';
      report.problem = errorMessage(err);
    }
  } finally {
    await finish(spec, report, started, progress, readUsed);
    report.finishedAt = new Date(clock.now()).toISOString();
    stepIndex = steps;
    progress('done', null, report.status === 'complete' ? 'finished' : `incomplete (${report.status})`);
  }
  return report;
}

/** Every server under load at once, round after round, while the GPU is sampled on a fixed beat. */
async function loadPhase(
  spec: SpikeSpec,
  deps: SpikeDeps,
  signal: AbortSignal,
  record: (server: string, r: LoadResult) => void,
  readUsed: () => Promise<number>,
): Promise<SpikePeak> {
  const { clock } = deps;
  const t = spec.timing;
  const inner = new AbortController();
  const stop = () => inner.abort();
  signal.addEventListener('abort', stop, { once: true });
  const t0 = clock.now();
  const trace: SpikePeak['trace'] = [];
  let loadDone = false;
  const sampler = (async () => {
    for (let k = 0; ; k++) {
      const used = await readUsed();
      trace.push({ ms: clock.now() - t0, usedBytes: used });
      if (loadDone && clock.now() - t0 >= t.peakWindowMs) return;
      const next = t0 + (k + 1) * t.peakIntervalMs;
      await sleep(clock, Math.max(0, next - clock.now()), inner.signal);
    }
  })();
  const loaded = spec.servers.filter((s) => s.load.kind !== 'none');
  const rounds = (async () => {
    try {
      for (let r = 0; r < t.rounds && !inner.signal.aborted; r++) {
        await Promise.all(
          loaded.map(async (s) => {
            const result = await deps.load(s, { timeoutMs: t.requestTimeoutMs, signal: inner.signal });
            if (!inner.signal.aborted) record(s.name, result);
          }),
        );
      }
    } finally {
      loadDone = true;
    }
  })();
  try {
    await Promise.all([sampler, rounds]);
  } catch (err) {
    inner.abort();
    await Promise.allSettled([sampler, rounds]);
    throw signal.aborted ? new Cancelled() : err;
  } finally {
    signal.removeEventListener('abort', stop);
  }
  let best = trace[0];
  if (!best) throw new Error('the load phase took no sample');
  for (const s of trace) if (s.usedBytes > best.usedBytes) best = s;
  const durationMs = Math.max(1, clock.now() - t0);
  return {
    usedBytes: best.usedBytes,
    atMs: best.ms,
    sampleCount: trace.length,
    durationMs,
    rateHz: Math.round((trace.length / durationMs) * 10_000) / 10,
    rounds: t.rounds,
    trace,
  };
}

/** NVML's figure per server (its process tree) and the server's own, with every server loaded. */
async function attribute(
  ledger: NonNullable<SpikeDeps['ledger']>,
  sample: GpuSample,
  spec: SpikeSpec,
  started: Array<{ server: SpikeServer; result: SpikeServerResult; handle: LaunchedServer }>,
  report: SpikeReport,
): Promise<void> {
  const owners: Owner[] = started.map(({ server, handle }) => ({
    name: server.name,
    kind: server.task.server,
    rootPid: handle.pid,
    baseUrl: server.baseUrl,
    gpu: spec.gpu,
  }));
  let ledgers: GpuLedger[];
  try {
    ledgers = await ledger(sample, owners);
  } catch (err) {
    report.notes.push(`The per-server figures could not be read: ${errorMessage(err)}.`);
    return;
  }
  const gpu = ledgers.find((l) => l.gpu === spec.gpu);
  for (const { result } of started) {
    const entry = gpu?.owned.find((e) => e.owner.name === result.name);
    result.nvmlBytes = entry ? entry.nvmlBytes : 0;
    result.reportedBytes = entry?.reportedBytes ?? null;
    result.models = entry?.report?.models.map((m) => m.name) ?? [];
  }
  if (gpu?.residualHint) report.notes.push(gpu.residualHint);
}

/** Stops what the spike started (newest first), unless a complete spike leaves it running. */
async function finish(
  spec: SpikeSpec,
  report: SpikeReport,
  started: Array<{ server: SpikeServer; result: SpikeServerResult; handle: LaunchedServer }>,
  progress: (step: SpikeStep, server: string | null, message: string) => void,
  readUsed: () => Promise<number>,
): Promise<void> {
  if (!started.length) return;
  if (report.status === 'complete' && spec.leaveRunning) {
    for (const { result } of started) result.stop = { how: 'left-running', waitedMs: 0, detail: `still running as PID ${result.pid}` };
    return;
  }
  for (const { server, result, handle } of [...started].reverse()) {
    progress('stopping', server.name, `stopping ${server.name} (PID ${handle.pid})`);
    try {
      const r = await handle.stop();
      result.stop = {
        how: r.how,
        waitedMs: Math.round(r.waitedMs),
        detail: r.how === 'SIGKILL' ? `it ignored SIGTERM and was killed (${r.pids.length} process${r.pids.length === 1 ? '' : 'es'})` : null,
      };
    } catch (err) {
      result.stop = { how: 'failed', waitedMs: 0, detail: errorMessage(err) };
      report.notes.push(`"${server.name}" (PID ${handle.pid}) could not be stopped: ${result.stop.detail}. Stop it by hand.`);
    }
  }
  try {
    const used = await readUsed();
    const base = report.rows.find((r) => r.kind === 'baseline')?.usedBytes ?? null;
    report.afterStop = { usedBytes: used, aboveBaselineBytes: base === null ? null : used - base };
  } catch {
    // the GPU may be what failed; the report says so already
  }
}
