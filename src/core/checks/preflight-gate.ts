/**
 * The VRAM gate through the full pre-flight: the task's `needs` (or its model, estimated at the
 * settings its own command line or Ollama's environment give, or measured before with the same
 * file and settings) against free VRAM less what other starting servers reserved, plus margin; the
 * level it would reach, residual memory, persistence mode. Pre-flight `fail` refuses the start.
 * A gate that passes reserves the need (shared by every window and the CLI) until the server's
 * memory shows in NVML. Arguments that cannot be read, or no model to estimate from, throw a
 * GateInputError: the task ends with that message.
 */
import { adviceText, runPreflight, type PreflightNeed, type PreflightReport } from './preflight.ts';
import type { ServerFlavour } from '../estimate/fit-advice.ts';
import { GGUF_SERVER_KIND, GGUF_SIZING, serverKindEntry } from '../servers/kinds/index.ts';
import { preflightMarkdown } from './preflight-report.ts';
import { addLlamaFitCheck, LLAMA_FIT_CHECK_ID } from './llama-fit-check.ts';
import { footprintKey, modelIdentity, type FootprintStore } from '../estimate/measured-footprints.ts';
import { resolveModelNeed, type ModelNeed } from '../estimate/server-need.ts';
import type { SizeSpec } from '../units.ts';
import type { ThresholdSpec } from '../watch/thresholds.ts';
import type { Reservation, ReservationBook } from '../servers/reservations.ts';
import { taskLlamaBuild } from '../estimate/llama-build.ts';
import { GateInputError, summarize, type GateFootprint, type GateInput, type GateReservation, type VramGate } from '../servers/vram-gate.ts';

export interface PreflightGateSettings {
  margin: SizeSpec;
  residualThreshold: SizeSpec;
  thresholds: ThresholdSpec;
  platform?: NodeJS.Platform;
  /** PIDs of the tasks VRAM Guard tracks, so the pre-flight can name the processes no task owns. */
  ownedPids?: ReadonlySet<number>;
  /** Measured footprints: used instead of the estimate when the file and settings match. */
  footprints?: FootprintStore;
  /** Reservations shared with other windows and the CLI. */
  reservations?: ReservationBook;
  /** The environment servers inherit (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /**
   * Ask the task's own llama-fit-params (beside its llama-server, or on PATH) what llama.cpp would fit,
   * and show it beside the estimate. It runs an executable: only for a trusted workspace.
   */
  askLlamaFit?: boolean;
  /** Its time limit (default 20 s). */
  llamaFitTimeoutMs?: number;
  log?: (message: string) => void;
}

/** The default lifetime of a reservation when the gate is not told the start timeout. */
export const DEFAULT_RESERVE_MS = 5 * 60_000;

/** The need of a task's model: its settings, and a measurement with the same key when there is one. */
export async function modelNeedFor(
  input: GateInput,
  settings: Pick<PreflightGateSettings, 'footprints' | 'env' | 'askLlamaFit'>,
  from = "the task's arguments",
): Promise<{ need: PreflightNeed; key: string | null } | null> {
  const server = input.run?.server ?? null;
  // A kind sized from its own arguments (llama-server) always is; one sized from its model (an Ollama task names
  // it in "model", a name in Ollama's store or a .gguf) only when the task names it; any other kind, as a GGUF
  // file under llama.cpp when the task names one. Without a model there is nothing to size.
  const own = server ? (serverKindEntry(server)?.sizing ?? null) : null;
  const readsArgs = own?.readsArgs === true;
  const sizing = readsArgs ? own : input.modelPath ? (own ?? GGUF_SIZING) : null;
  if (!sizing) return null;
  const flavour: ServerFlavour = sizing.flavour;
  const reading = input.reading.ok ? input.reading.sample.devices.find((d) => d.index === input.gpu) : undefined;
  const args = readsArgs ? (input.run?.args ?? []) : input.contextLength ? ['-c', String(input.contextLength)] : [];
  if (readsArgs && !input.modelPath && !sizing.namesModel?.(args, [settings.env ?? process.env, input.run?.env ?? {}])) return null;
  const env = { ...(settings.env ?? process.env), ...(input.run?.env ?? {}) };
  // The build of the task's llama-server (its --version), so the estimate sizes that build's graph:
  // it runs an executable, so only where llama-fit-params may run (a trusted workspace).
  const command = input.run?.command;
  const build = settings.askLlamaFit && readsArgs && command ? await taskLlamaBuild(command, { env, cwd: input.run?.cwd ?? undefined }) : null;
  const r = await resolveModelNeed({
    build,
    server: flavour,
    args,
    env,
    cwd: input.run?.cwd ?? null,
    model: input.modelPath,
    from: sizing.from ?? from,
    totalVramBytes: reading?.memory?.total ?? null,
  });
  if (!r.ok) throw new GateInputError(r.error);
  const key = await keyOf(r.need);
  const measured = key && settings.footprints ? await settings.footprints.get(key) : null;
  return { need: { kind: 'model', need: r.need, measured, flavour }, key };
}

async function keyOf(need: ModelNeed): Promise<string | null> {
  const id = await modelIdentity(need.modelPath);
  if (!id) return null;
  const others = await Promise.all(
    [need.settings.projectorPath, need.settings.draft?.modelPath ?? null].map((p) => (p ? modelIdentity(p) : Promise.resolve(null))),
  );
  return footprintKey(id, need.settings, others);
}

/** The estimate, --fit, measurement and advice lines of a report, for the task terminal. */
export function reportDetails(report: PreflightReport): string[] {
  const out: string[] = [];
  const estimate = report.checks.find((c) => c.id === 'preflight.estimate');
  if (estimate) out.push(`${estimate.title}: ${estimate.detail}`);
  const advice = adviceText(report.model);
  if (advice) out.push(advice);
  const fit = report.checks.find((c) => c.id === LLAMA_FIT_CHECK_ID);
  if (fit) out.push(fit.detail);
  return out;
}

export function preflightGate(settings: () => PreflightGateSettings): VramGate {
  return async (input) => {
    const s = settings();
    let need: PreflightNeed = { kind: 'none' };
    let key: string | null = null;
    if (input.needsBytes !== null) need = { kind: 'size', bytes: input.needsBytes, from: 'task' };
    else {
      let model: Awaited<ReturnType<typeof modelNeedFor>>;
      try {
        model = await modelNeedFor(input, s);
      } catch (err) {
        if (err instanceof GateInputError) throw new GateInputError(`"${input.taskName}" was not started: ${err.message}`);
        throw err;
      }
      if (model) ({ need, key } = model);
    }
    const run = (reservations: readonly Reservation[]) =>
      runPreflight(input.reading, {
        gpu: input.gpu,
        need,
        margin: s.margin,
        residualThreshold: s.residualThreshold,
        thresholds: s.thresholds,
        platform: s.platform ?? process.platform,
        strict: false,
        ownedPids: s.ownedPids,
        reservations,
      });
    let report: PreflightReport;
    let reservation: GateReservation | null = null;
    const book = s.reservations;
    if (book && input.reading.ok) {
      try {
        ({ report, reservation } = await book.update<{ report: PreflightReport; reservation: GateReservation | null }>((live) => {
          const r = run(live);
          if (r.verdict === 'fail' || r.needBytes === null || r.needBytes <= 0) return { result: { report: r, reservation: null } };
          const entry: Reservation = {
            id: book.newId(input.taskName),
            gpu: input.gpu,
            bytes: r.needBytes,
            owner: input.taskName,
            holderPid: process.pid,
            serverPid: null,
            createdAt: Date.now(),
            expiresAt: Date.now() + (input.reserveMs ?? DEFAULT_RESERVE_MS),
          };
          const handle: GateReservation = {
            bytes: entry.bytes,
            attach: (pid) => book.setServerPid(entry.id, pid).catch((err: Error) => s.log?.(`reservations: ${err.message}`)),
            release: () => book.remove(entry.id).catch((err: Error) => s.log?.(`reservations: ${err.message}`)),
          };
          return { result: { report: r, reservation: handle }, next: [...live, entry] };
        }));
      } catch (err) {
        // Still count what is reserved when only the change failed (the lock's wait, a full file).
        const live = await book.list().catch(() => null);
        s.log?.(
          `reservations: ${book.path} could not be used (${(err as Error).message}); the gate counts ${live ? 'the reservations in force and' : 'only'} what NVML shows, and reserves nothing.`,
        );
        report = run(live ?? []);
      }
    } else report = run([]);
    if (s.askLlamaFit && need.kind === 'model' && need.flavour === GGUF_SIZING.flavour && input.run?.server === GGUF_SERVER_KIND)
      await addLlamaFitCheck(report, {
        serverCommand: input.run.command ?? null,
        env: { ...(s.env ?? process.env), ...input.run.env },
        cwd: input.run.cwd,
        timeoutMs: s.llamaFitTimeoutMs,
      });
    const expectedBytes = report.needBytes;
    let footprint: GateFootprint | null = null;
    const store = s.footprints;
    if (key && store && need.kind === 'model') {
      const m = need.need;
      const estimateBytes = report.model?.plan?.estimate.totalBytes ?? null;
      const footprintKeyValue = key;
      footprint = {
        key,
        modelPath: m.modelPath,
        estimateBytes,
        settings: m.given.join(' '),
        estimate: m.estimate.kind === 'estimate' ? m.estimate : null,
        record: (measuredBytes, printed = null) =>
          store.record({
            key: footprintKeyValue,
            modelPath: m.modelPath,
            measuredBytes,
            estimateBytes,
            measuredAt: new Date().toISOString(),
            settings: m.given.join(' '),
            ...(printed ? { printed } : {}),
          }),
      };
    }
    const fitAdvice = report.model?.advice.length && need.kind === 'model' ? { flavour: need.flavour, suggestions: report.model.advice } : null;
    return {
      ...summarize(input.taskName, report.checks),
      expectedBytes,
      details: reportDetails(report),
      reservation,
      footprint,
      fitAdvice,
      reportMarkdown: preflightMarkdown(report),
    };
  };
}
