/**
 * The fallback chain: an ordered list of steps run when a GPU crosses their triggers. One step at a
 * time; after each, memory is left to settle before the next is considered, and the next runs only
 * if the GPU is still above its trigger. A step that ran (or could not) rests for a cooldown, so the
 * chain never loops. `confirm` steps ask first (with the numbers), `manual` ones run only on request.
 * Steps whose trigger is `cascade` run when a server's output cascades (onCascade), on that server.
 * Every step considered is an event, kept for the dashboard and written to the log.
 */
import { systemClock, type Clock } from '../clock.ts';
import { Emitter } from '../events.ts';
import { formatMiB } from '../units.ts';
import type { WatchedSample } from '../watch/watcher.ts';
import { eventText, type FallbackEvent } from './events.ts';
import type { FallbackExecutor, Plan } from './executor.ts';
import { waitForSettle } from './settle.ts';
import { describeTrigger, type FallbackMode, type FallbackStep } from '../servers/fallback-steps.ts';
import { targetNamesKind } from '../servers/kinds/index.ts';
import { readingAfter, triggerBytes, triggerFires, type LevelReading } from './triggers.ts';
import { errorMessage } from '../errors.ts';

export interface ConfirmRequest {
  step: FallbackStep;
  index: number;
  reading: LevelReading;
  /** What would happen, in a sentence. */
  description: string;
  /** Used bytes at which the trigger fires, when known. */
  triggerBytes: number | null;
}

export interface ChainOptions {
  /** The steps in order (the setting's, then each running task's own). Read at every use. */
  steps: () => FallbackStep[];
  /** The mode of steps that do not set their own. */
  mode: () => FallbackMode;
  executor: FallbackExecutor;
  /** A fresh reading of one GPU's used memory, for the settle wait; null when it cannot be read. */
  readUsed: (gpu: number) => Promise<number | null>;
  /** Asks a person whether to run a `confirm` step; false when declined or dismissed. */
  confirm: (request: ConfirmRequest) => Promise<boolean>;
  clock?: Clock;
  cooldownMs?: number;
  settleIntervalMs?: number;
  settleTimeoutMs?: number;
  log?: (message: string) => void;
  /** How many events are kept (oldest dropped first). */
  keepEvents?: number;
}

export const DEFAULT_COOLDOWN_MS = 120_000;
export const DEFAULT_SETTLE_TIMEOUT_MS = 10_000;

type Events = { event: [FallbackEvent]; busy: [boolean] };

interface EventInput {
  reading: LevelReading;
  step: FallbackStep;
  index: number;
  origin: FallbackEvent['origin'];
  result: FallbackEvent['result'];
  target: string | null;
  message: string;
  usedAfter: number | null;
  durationMs: number;
}

export class FallbackChain extends Emitter<Events> {
  private readonly options: ChainOptions;
  private readonly clock: Clock;
  private readonly cooldowns = new Map<string, number>();
  private running: Promise<void> | null = null;
  private disposed = false;
  readonly events: FallbackEvent[] = [];

  constructor(options: ChainOptions) {
    super();
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  /** Resolves when no step is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Feed every watcher sample here. Starts the chain for the first GPU whose triggers fire. */
  onSample(watched: WatchedSample): void {
    if (this.running || this.disposed) return;
    const steps = this.options.steps();
    if (!steps.length) return;
    for (const reading of readingsOf(watched)) {
      if (steps.some((s, i) => this.modeOf(s) !== 'manual' && triggerFires(s.trigger, reading) && !this.cooling(reading.gpu, i, s))) {
        this.track(this.episode(reading, steps));
        return;
      }
    }
  }

  /**
   * A CUDA-error cascade in a server's output: the `cascade` steps that target it (a null target, its
   * name or its kind) run in order on that server, after any step already running, until one is
   * done or declined — with the same rules as the others (mode, confirm, cooldown, audit line).
   * Returns how many steps it will consider.
   */
  onCascade(server: { name: string; kind: string; gpu: number }, watched: WatchedSample | null): number {
    if (this.disposed || !watched) return 0;
    const reading = readingsOf(watched).find((r) => r.gpu === server.gpu);
    if (!reading) return 0;
    const matching = this.options
      .steps()
      .map((step, index) => ({ step, index }))
      .filter(
        ({ step, index }) =>
          step.trigger.kind === 'cascade' && this.modeOf(step) !== 'manual' && targets(step.target, server) && !this.cooling(server.gpu, index, step),
      );
    if (!matching.length) return 0;
    const before = this.running;
    this.track(
      (async () => {
        if (before) await before;
        for (const { step, index } of matching) {
          if (this.disposed) return;
          const event = await this.runOne(step.action === 'command' ? step : { ...step, target: server.name }, index, reading, 'auto');
          if (!event || event.result === 'done' || event.result === 'declined') return;
        }
      })(),
    );
    return matching.length;
  }

  /** Runs one step now, whatever its trigger and mode: a person asked for it. */
  runStep(index: number, reading: LevelReading): Promise<FallbackEvent | null> {
    const step = this.options.steps()[index];
    if (!step) return Promise.resolve(null);
    const p = (async () => {
      await this.idle();
      return this.runOne(step, index, reading, 'manual');
    })();
    this.track(p.then(() => {}));
    return p;
  }

  /**
   * What the chain would do now, step by step, without doing it: a query. Its lines have the shape
   * of events but are not recorded, logged or emitted, so "Last actions" and the history only ever
   * hold what happened.
   */
  async dryRun(watched: WatchedSample): Promise<FallbackEvent[]> {
    const steps = this.options.steps();
    const out: FallbackEvent[] = [];
    for (const reading of readingsOf(watched)) {
      for (const [index, step] of steps.entries()) {
        const mode = this.modeOf(step);
        const fires = triggerFires(step.trigger, reading);
        const at = triggerBytes(step.trigger, reading);
        const cond = `trigger ${describeTrigger(step.trigger)}${at !== null ? ` (${formatMiB(at)})` : ''} ${fires ? 'is met' : 'is not met'} at ${formatMiB(reading.used)}`;
        const plan = await this.options.executor
          .plan(step, reading.gpu)
          .catch((err: unknown) => ({ ok: false as const, target: step.target, reason: String(err) }));
        const cooling = this.cooling(reading.gpu, index, step);
        let message: string;
        if (step.trigger.kind === 'cascade')
          message =
            plan.ok || mode === 'manual'
              ? `would ${plan.ok ? plan.description : 'run'} when a server's output cascades (CUDA errors)${mode === 'manual' ? ', only by hand (manual)' : ''}`
              : `would do nothing now: ${plan.reason}; it waits for a cascade`;
        else if (!plan.ok) message = `would do nothing: ${plan.reason}; ${cond}`;
        else if (mode === 'manual') message = `would ${plan.description} only when run by hand (manual); ${cond}`;
        else if (!fires) message = `would ${plan.description} once the ${cond.replace(' is not met', ' is met; now not')}`;
        else if (cooling) message = `would wait: it ran less than the cooldown ago; then ${plan.description}`;
        else
          message = `would ${mode === 'confirm' ? 'ask, then ' : ''}${plan.description}${index > 0 ? ' (only if the GPU is still above its trigger after the steps before it)' : ''}; ${cond}`;
        out.push(
          this.eventOf({
            reading,
            step,
            index,
            origin: 'dry-run',
            result: plan.ok ? 'would-run' : 'would-skip',
            target: plan.target,
            message,
            usedAfter: null,
            durationMs: 0,
          }),
        );
      }
    }
    return out;
  }

  /** New timings (after a settings change) apply from the next step. */
  configure(timing: Pick<ChainOptions, 'cooldownMs' | 'settleIntervalMs' | 'settleTimeoutMs'>): void {
    Object.assign(this.options, timing);
  }

  dispose(): void {
    this.disposed = true;
    this.clear();
  }

  private track(p: Promise<void>): void {
    const wrapped: Promise<void> = p
      .catch((err: unknown) => this.options.log?.(`fallback chain failed: ${String(err)}`))
      .finally(() => {
        if (this.running === wrapped) {
          this.running = null;
          this.emit('busy', false);
        }
      });
    this.running = wrapped;
    this.emit('busy', true);
  }

  private modeOf(step: FallbackStep): FallbackMode {
    return step.mode ?? this.options.mode();
  }

  private key(gpu: number, index: number, step: FallbackStep): string {
    return `${gpu}#${index}#${step.label}`;
  }

  private cooling(gpu: number, index: number, step: FallbackStep): boolean {
    const until = this.cooldowns.get(this.key(gpu, index, step));
    return until !== undefined && this.clock.now() < until;
  }

  private async episode(first: LevelReading, steps: FallbackStep[]): Promise<void> {
    let reading = first;
    for (;;) {
      if (this.disposed) return;
      const index = steps.findIndex((s, i) => this.modeOf(s) !== 'manual' && triggerFires(s.trigger, reading) && !this.cooling(reading.gpu, i, s));
      const step = steps[index];
      if (step === undefined) return;
      const event = await this.runOne(step, index, reading, 'auto');
      if (!event || event.result === 'declined') return;
      if (event.usedAfter !== null) reading = readingAfter(reading, event.usedAfter);
    }
  }

  private async runOne(step: FallbackStep, index: number, reading: LevelReading, origin: 'auto' | 'manual'): Promise<FallbackEvent | null> {
    const started = this.clock.now();
    this.cooldowns.set(this.key(reading.gpu, index, step), started + (this.options.cooldownMs ?? DEFAULT_COOLDOWN_MS));
    const base = { reading, step, index, origin } as const;
    let plan: Plan;
    try {
      plan = await this.options.executor.plan(step, reading.gpu);
    } catch (err) {
      return this.record({
        ...base,
        result: 'failed',
        target: step.target,
        message: `could not plan: ${errorMessage(err)}`,
        usedAfter: null,
        durationMs: this.clock.now() - started,
      });
    }
    if (!plan.ok)
      return this.record({ ...base, result: 'skipped', target: plan.target, message: `nothing to do: ${plan.reason}`, usedAfter: null, durationMs: 0 });
    if (origin === 'auto' && this.modeOf(step) === 'confirm') {
      const yes = await this.options
        .confirm({ step, index, reading, description: plan.description, triggerBytes: triggerBytes(step.trigger, reading) })
        .catch(() => false);
      if (!yes)
        return this.record({
          ...base,
          result: 'declined',
          target: plan.target,
          message: `not confirmed: ${plan.description}`,
          usedAfter: null,
          durationMs: this.clock.now() - started,
        });
    }
    let result: 'done' | 'failed' = 'done';
    let message: string;
    try {
      message = `${plan.description}: ${await plan.run()}`;
    } catch (err) {
      result = 'failed';
      message = `${plan.description} failed: ${errorMessage(err)}`;
    }
    const settled = await waitForSettle({
      readUsed: () => this.options.readUsed(reading.gpu),
      clock: this.clock,
      intervalMs: this.options.settleIntervalMs ?? 500,
      timeoutMs: this.options.settleTimeoutMs ?? DEFAULT_SETTLE_TIMEOUT_MS,
    });
    if (!settled.settled) message += ` (memory was still falling after ${(settled.waitedMs / 1000).toFixed(1)} s)`;
    return this.record({ ...base, result, target: plan.target, message, usedAfter: settled.usedAfter, durationMs: this.clock.now() - started });
  }

  /** Records what happened: kept in `events`, logged and emitted. */
  private record(r: EventInput): FallbackEvent {
    const event = this.eventOf(r);
    this.events.push(event);
    const keep = this.options.keepEvents ?? 500;
    if (this.events.length > keep) this.events.splice(0, this.events.length - keep);
    this.options.log?.(eventText(event));
    this.emit('event', event);
    return event;
  }

  private eventOf(r: EventInput): FallbackEvent {
    return {
      time: this.clock.now(),
      gpu: r.reading.gpu,
      level: r.reading.level,
      step: r.index,
      label: r.step.label,
      action: r.step.action,
      target: r.target,
      mode: this.modeOf(r.step),
      origin: r.origin,
      result: r.result,
      message: r.message,
      usedBefore: r.reading.used,
      usedAfter: r.usedAfter,
      totalBytes: r.reading.total,
      durationMs: r.durationMs,
    };
  }
}

/** Whether a step's target names this server: no target, its task's name, or its kind ("whisper": both whisper kinds). */
function targets(target: string | null, server: { name: string; kind: string }): boolean {
  if (target === null || target === server.name || target === server.kind) return true;
  return targetNamesKind(target, server.kind);
}

/** The readable GPUs of a watcher sample, with their levels and thresholds. */
export function readingsOf(watched: WatchedSample): LevelReading[] {
  const out: LevelReading[] = [];
  watched.sample.devices.forEach((d, i) => {
    if (!d.memory) return;
    out.push({ gpu: d.index, used: d.memory.used, total: d.memory.total, level: watched.levels[i] ?? 'ok', thresholds: watched.thresholds[i] ?? null });
  });
  return out;
}
