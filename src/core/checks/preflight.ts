/**
 * The pre-flight check: before a model server starts, does what it needs fit on the chosen GPU?
 * Pure over one GPU sample and the options: free VRAM against need + margin, memory no process
 * accounts for, the level the GPU would reach, persistence mode, a driver with broken process
 * data. Without GPU figures it says so and does not block, unless asked to be strict.
 */
import type { GpuReading } from '../watch/watcher.ts';
import type { DeviceMemory, GpuDevice, SourceKind } from '../gpu/types.ts';
import { processLabel } from '../report/gpu-summary.ts';
import { formatMiB, MiB, percentOf, resolveSize, type SizeSpec } from '../units.ts';
import { rawLevel } from '../watch/classifier.ts';
import { levelLabel, type Level } from '../watch/levels.ts';
import { resolveThresholds, type ThresholdSpec } from '../watch/thresholds.ts';
import type { CheckResult, CheckStatus } from '../check-result.ts';
import { fitAdvice, planFit, type FitPlan, type FitSuggestion, type ServerFlavour } from '../estimate/fit-advice.ts';
import type { ModelNeed } from '../estimate/server-need.ts';
import type { MeasuredFootprint } from '../estimate/measured-footprints.ts';
import type { Reservation } from '../servers/reservations.ts';
import { describeAssumptions, describeParts } from '../estimate/estimate-text.ts';
import { withPrintedParts } from '../estimate/printed-footprint.ts';

/** Keep this much free beyond the need, like llama.cpp's fit target. */
export const DEFAULT_MARGIN_TEXT = '1GiB';
/** Used memory beyond the processes' sum above this is reported as residual. */
export const DEFAULT_RESIDUAL_THRESHOLD_TEXT = '100MiB';

/** Drivers whose `_v3` process calls wrote 32-byte entries instead of 24. */
const BROKEN_PROCESS_DATA = { major: 535, fromMinor: 43, toMinor: 86 } as const;

/**
 * What the server needs: nothing given, a size (an argument, a task's `needs`), or a model with the
 * settings it will run with (estimated, or measured before with the same file and settings).
 */
export type PreflightNeed =
  | { kind: 'none' }
  | { kind: 'size'; bytes: number; from: string }
  | { kind: 'model'; need: ModelNeed; measured: MeasuredFootprint | null; flavour: ServerFlavour };

/** The model part of a report: the estimate, what --fit will do, a measurement, and what would fit. */
export interface ModelReport {
  need: ModelNeed;
  /** The estimate at the settings the server will run with; null when there is no estimate. */
  plan: FitPlan | null;
  measured: MeasuredFootprint | null;
  /** Ways to fit when the need does not, each with its flags and new total. */
  advice: FitSuggestion[];
  /** What the advice fits into: free memory less the margin, and below the critical level; null without GPU figures. */
  adviceBudgetBytes: number | null;
}

export interface PreflightOptions {
  /** The GPU's index (as NVML numbers it). */
  gpu: number;
  need: PreflightNeed;
  margin: SizeSpec;
  residualThreshold: SizeSpec;
  thresholds: ThresholdSpec;
  platform: NodeJS.Platform;
  /** Fail, rather than pass over, when there are no GPU figures. */
  strict: boolean;
  /** PIDs that belong to tasks VRAM Guard tracks; absent where no task is tracked (the CLI). */
  ownedPids?: ReadonlySet<number> | undefined;
  /** Memory other servers that passed the gate have reserved on this GPU and NVML does not show yet. */
  reservations?: readonly Reservation[];
  /**
   * With a model need: what happens when the model cannot be estimated. Absent (the task gate): the
   * check is unavailable and does not block, unless the file is missing. `required` (the CLI's
   * --model): it fails — a check that could not be made does not pass. A size: that need is used
   * instead (the CLI's --need beside --model), and the report says the model was not read.
   */
  unestimatedModel?: 'required' | { bytes: number; from: string };
}

/** `unavailable`: no GPU figures and not strict; the check did not block. */
export type PreflightVerdict = 'pass' | 'warn' | 'fail' | 'unavailable';

export interface PreflightReport {
  verdict: PreflightVerdict;
  source: { kind: SourceKind; description: string } | null;
  driverVersion: string | null;
  gpu: { index: number; name: string | null; uuid: string | null; totalBytes: number; usedBytes: number; freeBytes: number } | null;
  needBytes: number | null;
  /** Where the need came from: "--need", "task", "estimate", "measured", or null. */
  needFrom: string | null;
  model: ModelReport | null;
  /** Reserved by servers starting (counted as used), and by whom. */
  reservedBytes: number;
  reservations: Reservation[];
  marginBytes: number | null;
  /** The level the GPU would reach with the need added. */
  projectedLevel: Level | null;
  checks: CheckResult[];
}

export const PREFLIGHT_EXIT = { pass: 0, fail: 1, warn: 3 } as const;

export function preflightExitCode(report: PreflightReport, failOnWarn: boolean): number {
  if (report.verdict === 'fail') return PREFLIGHT_EXIT.fail;
  if (report.verdict === 'warn' && failOnWarn) return PREFLIGHT_EXIT.warn;
  return PREFLIGHT_EXIT.pass;
}

const check = (id: string, title: string, status: CheckStatus, detail: string, advice = '', data?: Record<string, unknown>): CheckResult =>
  data ? { id, title, status, detail, advice, data } : { id, title, status, detail, advice };

const FREE_ADVICE =
  'Free memory first (stop or unload another model: `ollama stop MODEL`, a smaller server), or shrink the need: a smaller context, a q8_0 KV cache (`-ctk q8_0 -ctv q8_0`, `OLLAMA_KV_CACHE_TYPE=q8_0`), fewer GPU layers (`-ngl`).';

const SHRINK = 'Free memory, or shrink the need (a smaller context, a q8_0 KV cache, fewer GPU layers).';

export function runPreflight(gpu: GpuReading, options: PreflightOptions): PreflightReport {
  const checks: CheckResult[] = [];
  const reservations = (options.reservations ?? []).filter((r) => r.gpu === options.gpu);
  const reservedBytes = reservations.reduce((sum, r) => sum + r.bytes, 0);
  const report: PreflightReport = {
    verdict: 'pass',
    source: null,
    driverVersion: null,
    gpu: null,
    needBytes: options.need.kind === 'size' ? options.need.bytes : null,
    needFrom: options.need.kind === 'size' ? options.need.from : null,
    model: null,
    marginBytes: null,
    projectedLevel: null,
    reservedBytes,
    reservations,
    checks,
  };

  const device = sourceCheck(gpu, options, report);
  const memory = device?.memory ?? null;
  const marginBytes = memory ? resolveSize(options.margin, memory.total) : null;
  const freeBytes = memory ? Math.max(0, memory.free - reservedBytes) : null;
  if (options.need.kind === 'model') {
    // What would fit must pass the gate: free memory less the margin, and below the critical level.
    let budget: number | null = null;
    if (memory && freeBytes !== null && marginBytes !== null) {
      const critical = resolveThresholds(options.thresholds, memory.total).thresholds.critical;
      budget = Math.max(0, Math.min(freeBytes - marginBytes, critical - memory.used - reservedBytes - 1));
    }
    const model = modelReport(options.need, freeBytes, budget);
    report.model = model;
    const measuredBytes = model.measured?.measuredBytes ?? null;
    report.needBytes = measuredBytes ?? model.plan?.estimate.totalBytes ?? null;
    report.needFrom = measuredBytes !== null ? 'measured' : model.plan ? 'estimate' : null;
    const instead = typeof options.unestimatedModel === 'object' ? options.unestimatedModel : null;
    if (!model.plan && instead) {
      report.needBytes = instead.bytes;
      report.needFrom = instead.from;
    }
    checks.push(estimateCheck(model, options.unestimatedModel));
  }
  if (device && memory && marginBytes !== null) {
    const m = memory;
    report.gpu = { index: device.index, name: device.name, uuid: device.uuid, totalBytes: m.total, usedBytes: m.used, freeBytes: m.free };
    report.marginBytes = marginBytes;
    checks.push(freeCheck(device, m, report, marginBytes));
    checks.push(levelCheck(m, report.needBytes, options.thresholds, report));
    checks.push(residualCheck(device, m, resolveSize(options.residualThreshold, m.total)));
    if (options.ownedPids) checks.push(unownedCheck(device, options.ownedPids, resolveSize(options.residualThreshold, m.total)));
    if (options.platform === 'linux') checks.push(persistenceCheck(device));
  }
  if (gpu.ok) checks.push(driverCheck(gpu.sample.driverVersion));

  const statuses = checks.map((c) => c.status);
  report.verdict = statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : device?.memory ? 'pass' : 'unavailable';
  return report;
}

/** The estimate at the settings the server will run with (after --fit), and advice when it does not fit. */
function modelReport(need: Extract<PreflightNeed, { kind: 'model' }>, freeBytes: number | null, budgetBytes: number | null): ModelReport {
  const { estimator, estimate } = need.need;
  const out: ModelReport = { need: need.need, plan: null, measured: need.measured, advice: [], adviceBudgetBytes: null };
  if (!estimator || estimate.kind !== 'estimate') return out;
  // llama.cpp's own report for the same file and settings, when one was kept, stands for the formula's parts.
  const printed = need.measured?.printed ?? null;
  out.plan = planFit(estimator, need.need.settings, printed ? withPrintedParts(estimate, printed) : estimate, freeBytes);
  if (budgetBytes !== null) {
    out.adviceBudgetBytes = budgetBytes;
    const needBytes = need.measured?.measuredBytes ?? out.plan.estimate.totalBytes;
    if (needBytes > out.adviceBudgetBytes) out.advice = fitAdvice(estimator, out.plan, out.adviceBudgetBytes, need.flavour);
    else if (need.need.settings.gpuLayers === null && out.plan.settings.gpuLayers !== null && estimate.kind === 'estimate') {
      // --fit moved layers to the CPU: say what would keep them all on the GPU.
      const all = { ...out.plan.settings, gpuLayers: null };
      const full = estimator.estimate(all);
      if (full.kind === 'estimate')
        out.advice = fitAdvice(estimator, { estimate: full, settings: all, note: null, takesAllFree: false }, out.adviceBudgetBytes, need.flavour);
    }
  }
  return out;
}

function sourceCheck(gpu: GpuReading, options: PreflightOptions, report: PreflightReport): GpuDevice | null {
  const id = 'preflight.gpu';
  const title = 'GPU figures';
  if (!gpu.ok) {
    report.source = null;
    report.checks.push(
      check(
        id,
        title,
        options.strict ? 'fail' : 'unavailable',
        `No GPU source: ${gpu.reason.replace(/\.+$/, '')}. ${options.strict ? 'With --strict, missing GPU figures fail the check.' : 'Without GPU figures nothing can be checked, and the pre-flight does not block.'}`,
        'Install the NVIDIA driver (it provides libnvidia-ml), or point --nvml-library (the setting vramGuard.nvmlLibraryPath) at libnvidia-ml.so.1.',
      ),
    );
    return null;
  }
  const { sample, description } = gpu;
  report.source = { kind: sample.source, description };
  report.driverVersion = sample.driverVersion;
  const device = sample.devices.find((d) => d.index === options.gpu);
  if (!device) {
    const present = sample.devices.length
      ? `this machine has GPU${sample.devices.length > 1 ? 's' : ''} ${sample.devices.map((d) => d.index).join(', ')}`
      : 'the source sees no GPU';
    report.checks.push(
      check(
        id,
        title,
        'fail',
        `GPU ${options.gpu} was not found: ${present}.`,
        sample.devices.length ? 'Choose one of them with --gpu.' : 'Check the driver sees the GPU (`nvidia-smi`).',
      ),
    );
    return null;
  }
  if (!device.memory) {
    const why = device.error ? `${device.error.code}: ${device.error.message}` : 'the source gave no memory figures';
    report.checks.push(
      check(
        id,
        title,
        'fail',
        `GPU ${device.index} (${device.name ?? 'unknown'}) could not be read (${why}), so nothing can be started on it safely.`,
        'A lost GPU (GPU_IS_LOST) needs a driver reload or a reboot; for NO_PERMISSION, run as a user allowed to use the GPU.',
      ),
    );
    return device;
  }
  const m = device.memory;
  const simulated = sample.source === 'replay';
  report.checks.push(
    check(
      id,
      title,
      simulated ? 'warn' : 'pass',
      `${simulated ? 'SIMULATED: ' : ''}GPU ${device.index} ${device.name ?? 'unknown'}: ${formatMiB(m.used)} of ${formatMiB(m.total)} used (${percentOf(m.used, m.total).toFixed(1)}%), ${formatMiB(m.free)} free. Source: ${description}.`,
      simulated ? 'These figures are replayed from a recording, not read from the GPU.' : '',
    ),
  );
  return device;
}

function estimateCheck(model: ModelReport, unestimated: PreflightOptions['unestimatedModel']): CheckResult {
  const id = 'preflight.estimate';
  const title = 'Estimated need';
  const { need, plan, measured } = model;
  const from = need.given.length ? ` Settings from ${need.from}: ${need.given.join(' ')}.` : ` Settings from ${need.from}: none that change memory.`;
  const notes = need.notes.length ? ` ${need.notes.map((n) => n.charAt(0).toUpperCase() + n.slice(1)).join('. ')}.` : '';
  if (!plan) {
    const e = need.estimate;
    const reason = e.kind === 'none' ? e.reason : 'the model could not be read.';
    if (typeof unestimated === 'object')
      return check(id, title, 'unavailable', `The model was not read: ${reason} The need is ${unestimated.from}'s ${formatMiB(unestimated.bytes)} instead.`);
    // A file that is not there or cannot be read blocks a start; a model without an estimate does not,
    // unless the model is all the check was given.
    return check(
      id,
      title,
      need.readable && unestimated !== 'required' ? 'unavailable' : 'fail',
      `No estimate: ${reason}${need.readable && unestimated === 'required' ? ' A check that could not be made does not pass.' : ''}`,
      'Give the need yourself ("needs": "6GiB" in the task, --need 6GiB on the command line), taken from the server\'s startup log or `ollama ps`.',
    );
  }
  const e = plan.estimate;
  const perGpu = e.perGpu
    ? ` Per GPU (-ts): ${e.perGpu
        .map(
          (g, i) =>
            `device ${i} ${formatMiB(g.weightsBytes + g.kvCacheBytes + g.computeBufferBytes)} (${g.layers} layers${g.outputLayer ? ' and the output layer' : ''}, KV cache ${formatMiB(g.kvCacheBytes)})`,
        )
        .join(', ')}; the check sets their sum against one GPU`
    : '';
  const parts = `${describeParts(e.parts)} = ${formatMiB(e.totalBytes)}${perGpu}`;
  const assumed = ` Assumed: ${describeAssumptions(e.assumptions)}.`;
  const fit = plan.note ? ` ${plan.note}` : '';
  const data = { ...e.parts, totalBytes: e.totalBytes, measuredBytes: measured?.measuredBytes ?? null };
  if (measured && measured.measuredBytes !== null) {
    const when = measured.measuredAt.slice(0, 16).replace('T', ' ');
    return check(
      id,
      'Measured need',
      plan.takesAllFree ? 'warn' : 'pass',
      `${model.need.estimator?.label ?? need.modelPath}: measured on ${when}: ${formatMiB(measured.measuredBytes)} (NVML, the server's processes, same file and settings); estimate was ${formatMiB(measured.estimateBytes ?? e.totalBytes)}, now ${parts}.${assumed}${from}${notes}${fit}`,
      '',
      data,
    );
  }
  return check(
    id,
    title,
    plan.takesAllFree ? 'warn' : 'pass',
    `${model.need.estimator?.label ?? need.modelPath}: ${parts}.${assumed}${from}${notes}${fit}`,
    plan.takesAllFree ? 'Give -c (and -ngl) to choose what it takes, or --fit off.' : '',
    data,
  );
}

/** "What would fit in 5212 MiB: `-c 12288` → 5101 MiB; ..." */
export function adviceText(model: ModelReport | null): string {
  if (!model?.advice.length || model.adviceBudgetBytes === null) return '';
  return `What would fit in ${formatMiB(model.adviceBudgetBytes)} (free less the margin, below CRITICAL): ${model.advice.map((a) => `${a.title.charAt(0).toLowerCase()}${a.title.slice(1)}: \`${a.flags}\` → ${formatMiB(a.totalBytes)}`).join('; ')}.`;
}

function freeCheck(device: GpuDevice, memory: DeviceMemory, report: PreflightReport, marginBytes: number): CheckResult {
  const id = 'preflight.free';
  const title = 'Free VRAM for the need';
  const needBytes = report.needBytes;
  const free = Math.max(0, memory.free - report.reservedBytes);
  const freeText =
    report.reservedBytes > 0
      ? `${formatMiB(free)} free (${formatMiB(memory.free)} less ${formatMiB(report.reservedBytes)} reserved by ${report.reservations.map((r) => `"${r.owner}"`).join(', ')}, starting)`
      : `${formatMiB(free)} free`;
  if (needBytes === null) {
    return report.model
      ? check(
          id,
          title,
          'unavailable',
          `${freeText} on GPU ${device.index}; with no estimate there is no need to compare it with.`,
          'Give the need with --need (for example --need 6GiB).',
        )
      : check(
          id,
          title,
          'unavailable',
          `${freeText} on GPU ${device.index}; no need was given, so there is nothing to compare.`,
          'Give the need (--need 6GiB) or the model (--model path.gguf) to check that it fits.',
        );
  }
  const data = { freeBytes: free, needBytes, marginBytes, reservedBytes: report.reservedBytes };
  const advice = adviceText(report.model);
  const freeAdvice = advice ? `${advice} Or free memory first (stop or unload another model).` : FREE_ADVICE;
  if (free >= needBytes + marginBytes) {
    return check(
      id,
      title,
      'pass',
      `${freeText} ≥ ${formatMiB(needBytes)} needed + ${formatMiB(marginBytes)} margin (${formatMiB(free - needBytes - marginBytes)} to spare).`,
      '',
      data,
    );
  }
  if (free >= needBytes) {
    return check(
      id,
      title,
      'warn',
      `${freeText}: the ${formatMiB(needBytes)} needed fits, but leaves ${formatMiB(free - needBytes)}, less than the ${formatMiB(marginBytes)} margin; a longer prompt or another process could tip it over.`,
      freeAdvice,
      data,
    );
  }
  return check(
    id,
    title,
    'fail',
    `${freeText} < ${formatMiB(needBytes)} needed: ${formatMiB(needBytes - free)} short (${formatMiB(needBytes + marginBytes - free)} with the ${formatMiB(marginBytes)} margin). The server would stop with CUDA out of memory or spill to the CPU.`,
    freeAdvice,
    data,
  );
}

function levelCheck(m: DeviceMemory, needBytes: number | null, spec: ThresholdSpec, report: PreflightReport): CheckResult {
  const id = 'preflight.level';
  const title = needBytes === null ? 'Level now' : 'Level after start';
  const { thresholds: t, problem } = resolveThresholds(spec, m.total);
  const projected = m.used + report.reservedBytes + (needBytes ?? 0);
  const level = rawLevel(projected, t);
  report.projectedLevel = level;
  const at = `(WARNING at ${formatMiB(t.warning)}, CRITICAL at ${formatMiB(t.critical)}, EMERGENCY at ${formatMiB(t.emergency)})`;
  const figures =
    needBytes === null
      ? `${formatMiB(m.used)} of ${formatMiB(m.total)} used: ${levelLabel(level)} ${at}.`
      : `${formatMiB(m.used)} used${report.reservedBytes ? ` + ${formatMiB(report.reservedBytes)} reserved` : ''} + ${formatMiB(needBytes)} needed = ${formatMiB(projected)} of ${formatMiB(m.total)} (${percentOf(projected, m.total).toFixed(1)}%${projected > m.total ? ', more than the GPU has' : ''}): ${levelLabel(level)} ${at}.`;
  const detail = problem ? `${figures} ${problem}` : figures;
  const data = { projectedBytes: projected, totalBytes: m.total, level, thresholds: { warning: t.warning, critical: t.critical, emergency: t.emergency } };
  switch (level) {
    case 'ok':
      return check(id, title, 'pass', detail, '', data);
    case 'warning':
      return check(id, title, 'warn', detail, `It would run at WARNING, with little room for a second model or a longer context. ${SHRINK}`, data);
    default:
      return check(id, title, 'fail', detail, `It would run at ${levelLabel(level)}, close to out of memory from the start. ${SHRINK}`, data);
  }
}

/**
 * What the driver may hold as reserved memory where it does not say (NVML's v1 memory call, on old
 * drivers or when _v2 is refused: "used" then includes it): 4 % of the total, 128 MiB to 1 GiB (an
 * RTX 3070 reserves 312 MiB of 8 GiB, an RTX A1000 94 MiB of 4 GiB).
 */
export function reservedAllowanceBytes(totalBytes: number): number {
  return Math.min(1024 * MiB, Math.max(128 * MiB, totalBytes * 0.04));
}

function residualCheck(device: GpuDevice, m: DeviceMemory, thresholdBytes: number): CheckResult {
  const id = 'preflight.residual';
  const title = 'Memory no process accounts for';
  const unknown = device.processes.filter((p) => p.usedBytes === null);
  if (unknown.length && unknown.length === device.processes.length) {
    return check(
      id,
      title,
      'unavailable',
      'The driver does not report per-process memory here (Windows WDDM, WSL, some containers), so memory left behind cannot be told from memory in use.',
    );
  }
  const known = device.processes.filter((p) => p.usedBytes !== null);
  const held = known.reduce((sum, p) => sum + (p.usedBytes ?? 0), 0);
  const residual = Math.max(0, m.used - held);
  // On the v1 memory path "used" includes what the driver reserves: that part is nobody's leftover.
  const allowance = m.reserved === null ? Math.min(residual, reservedAllowanceBytes(m.total)) : 0;
  const beyond = residual - allowance;
  const who = known.length ? `${known.length === 1 ? '1 process holds' : `${known.length} processes hold`} ${formatMiB(held)}` : 'no process holds any';
  const silent = unknown.length ? `; ${unknown.map((p) => processLabel(p)).join(', ')} report${unknown.length === 1 ? 's' : ''} no figure` : '';
  const reservedNote = allowance
    ? `, of which up to ${formatMiB(allowance)} can be the driver's reserved memory (this driver counts it as used and does not report it)`
    : '';
  const data = { usedBytes: m.used, processesBytes: held, residualBytes: residual, reservedAllowanceBytes: allowance, thresholdBytes };
  const figures = `${formatMiB(residual)} of the ${formatMiB(m.used)} used belongs to no running process (${who}${silent})${reservedNote}`;
  if (beyond > thresholdBytes && unknown.length) {
    return check(
      id,
      title,
      'unavailable',
      `${figures}: more than the ${formatMiB(thresholdBytes)} threshold, but the processes without a figure may hold it, so memory left behind cannot be told from memory in use.`,
      '',
      data,
    );
  }
  if (beyond > thresholdBytes) {
    return check(
      id,
      title,
      'warn',
      `${figures}; above the ${formatMiB(thresholdBytes)} threshold.`,
      'It is left behind by a process that is gone (a crashed server, a zombie), or held where NVML cannot see (another container, a VM). Look with `nvidia-smi` and `fuser -v /dev/nvidia*`; stopping the holder, or a driver reload, frees it.',
      data,
    );
  }
  return check(id, title, 'pass', `${figures}; threshold ${formatMiB(thresholdBytes)}.`, '', data);
}

function unownedCheck(device: GpuDevice, owned: ReadonlySet<number>, thresholdBytes: number): CheckResult {
  const id = 'preflight.unowned';
  const title = 'Processes no task owns';
  const strangers = device.processes.filter((p) => !owned.has(p.pid) && (p.usedBytes ?? 0) > thresholdBytes);
  if (!strangers.length) return check(id, title, 'pass', `Every process holding more than ${formatMiB(thresholdBytes)} belongs to a task.`);
  const list = strangers.map((p) => `${processLabel(p)} ${formatMiB(p.usedBytes ?? 0)}`).join(', ');
  return check(
    id,
    title,
    'warn',
    `${strangers.length} process${strangers.length === 1 ? '' : 'es'} no task started hold${strangers.length === 1 ? 's' : ''} VRAM: ${list}.`,
    'If one is a server left over from an earlier run, stop it before starting another.',
    { pids: strangers.map((p) => p.pid) },
  );
}

function persistenceCheck(device: GpuDevice): CheckResult {
  const id = 'preflight.persistence';
  const title = 'Persistence mode';
  if (device.persistenceMode === null) return check(id, title, 'unavailable', 'The source does not report persistence mode for this GPU.');
  if (device.persistenceMode) return check(id, title, 'pass', 'On: the driver keeps the GPU initialised between processes.');
  return check(
    id,
    title,
    'warn',
    'Off: the driver tears the GPU down whenever no process uses it, so each server start (and every NVML or nvidia-smi call on an idle GPU) can take seconds.',
    'Turn it on: `sudo systemctl enable --now nvidia-persistenced` (or `sudo nvidia-smi -pm 1` until the next reboot).',
  );
}

/** True for drivers 535.43 to 535.86, whose per-process lists are malformed. */
export function hasBrokenProcessData(driverVersion: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(driverVersion.trim());
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major === BROKEN_PROCESS_DATA.major && minor >= BROKEN_PROCESS_DATA.fromMinor && minor <= BROKEN_PROCESS_DATA.toMinor;
}

function driverCheck(driverVersion: string | null): CheckResult {
  const id = 'preflight.driver';
  const title = 'Driver version';
  if (driverVersion === null) return check(id, title, 'unavailable', 'The source does not report the driver version.');
  if (hasBrokenProcessData(driverVersion)) {
    return check(
      id,
      title,
      'warn',
      `Driver ${driverVersion} is in the 535.43–535.86 range, whose per-process memory lists are malformed (32-byte entries where 24 are expected). VRAM Guard detects and reads them correctly, but other tools and servers may show garbage or wrong sizes.`,
      'Update the NVIDIA driver (535.104 or later).',
    );
  }
  return check(id, title, 'pass', `Driver ${driverVersion}.`);
}
