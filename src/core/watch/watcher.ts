/**
 * Samples the GPU source on an interval and classifies each GPU.
 * Ticks never overlap (the next is scheduled when one ends); errors back off and, when they
 * persist, the source is closed and probed again; with no source, probing repeats so a GPU that
 * appears is noticed. The rate adapts: faster near a threshold, slower when calm.
 */
import { systemClock, type Clock } from '../clock.ts';
import { Emitter } from '../events.ts';
import { DriverNotAnsweringError, notAnsweringError } from '../gpu/not-answering.ts';
import { DEFAULT_PROCESS_LIST_INTERVAL_MS } from '../gpu/process-list-budget.ts';
import { emptyDevice, type GpuSample, type GpuSource } from '../gpu/types.ts';
import { resolveSize, type SizeSpec } from '../units.ts';
import { nextLevel, type LevelTransition } from './classifier.ts';
import { levelRank, type Level } from './levels.ts';
import { resolveThresholds, type ResolvedThresholds, type ThresholdSpec } from './thresholds.ts';
import { errorMessage, toError } from '../errors.ts';

/** Opens a GPU source; `signal` aborts when the watcher stops, so a slow open (a hung nvmlInit) ends at once. */
export type OpenSource = (signal: AbortSignal) => Promise<{ ok: true; source: GpuSource } | { ok: false; reason: string }>;

export interface AdaptiveRate {
  enabled: boolean;
  /** Interval when a GPU is within `margin` of its next threshold, or at CRITICAL or above. */
  fastIntervalMs: number;
  /** Interval when every GPU is OK and well below WARNING. */
  calmIntervalMs: number;
  margin: SizeSpec;
}

export interface WatcherOptions {
  openSource: OpenSource;
  thresholds: ThresholdSpec;
  intervalMs: number;
  adaptive?: AdaptiveRate;
  /** How often to look for a GPU again when there is none. */
  reprobeMs?: number;
  /** Consecutive failed samples before the source is closed and probed again. */
  failuresBeforeReprobe?: number;
  maxBackoffMs?: number;
  /** Process lists are read at least this often (and whenever used memory moves by a step, or a view asks). */
  processListIntervalMs?: number;
  /** A driver call not answering for this long: the source (its worker) is replaced. */
  replaceStuckSourceAfterMs?: number;
  clock?: Clock;
  log?: (message: string) => void;
}

export const DEFAULT_ADAPTIVE: AdaptiveRate = {
  enabled: true,
  fastIntervalMs: 250,
  calmIntervalMs: 2000,
  margin: { kind: 'percent', percent: 5 },
};

export interface WatchedSample {
  sample: GpuSample;
  /** Per device, in the order of sample.devices. */
  levels: Level[];
  thresholds: Array<ResolvedThresholds | null>;
}

/** The latest sample with its source's description, or why there is none: what checks read. */
export type GpuReading = { ok: true; sample: GpuSample; description: string } | { ok: false; reason: string };

export type SourceStatus = { state: 'probing' } | { state: 'ready'; source: GpuSource } | { state: 'none'; reason: string };

type WatcherEvents = {
  sample: [WatchedSample];
  transition: [LevelTransition];
  status: [SourceStatus];
  error: [Error];
  /** Threshold settings that do not fit a GPU: one sentence each. */
  problems: [string[]];
};

interface DeviceTrack {
  level: Level;
  total: number;
  thresholds: ResolvedThresholds;
  problem: string | null;
}

export class Watcher extends Emitter<WatcherEvents> {
  private readonly clock: Clock;
  private readonly log: (message: string) => void;
  private options: Required<Omit<WatcherOptions, 'clock' | 'log'>>;
  private source: GpuSource | null = null;
  private timer: unknown = null;
  private running: Promise<void> | null = null;
  /** Aborted by stop(): ends an open in flight. */
  private opening: AbortController | null = null;
  private stopped = true;
  private failures = 0;
  private readonly tracks = new Map<string, DeviceTrack>();
  private lastProblems = '';
  /** The next sample lists every GPU's processes (a view asked). */
  private processesNow = true;
  /** Since when the source's driver call has not returned, or null. */
  private notAnsweringSince: number | null = null;
  status: SourceStatus = { state: 'probing' };
  latest: WatchedSample | null = null;
  /** The delay chosen after the last tick, for display and tests. */
  lastDelayMs = 0;

  constructor(options: WatcherOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => {});
    this.options = {
      openSource: options.openSource,
      thresholds: options.thresholds,
      intervalMs: options.intervalMs,
      adaptive: options.adaptive ?? DEFAULT_ADAPTIVE,
      reprobeMs: options.reprobeMs ?? 30_000,
      failuresBeforeReprobe: options.failuresBeforeReprobe ?? 3,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      processListIntervalMs: options.processListIntervalMs ?? DEFAULT_PROCESS_LIST_INTERVAL_MS,
      replaceStuckSourceAfterMs: options.replaceStuckSourceAfterMs ?? 30_000,
    };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /**
   * Stops sampling and closes the source, never waiting for the driver: an open in flight is aborted
   * and a sample in flight ends with its source's closing (an NVML worker is killed), so stop()
   * resolves at once even while nvmlInit or a sample hangs.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.opening?.abort();
    await this.closeSource();
    await this.running;
    await this.closeSource();
  }

  /** New thresholds apply from the next sample; levels are re-derived with hysteresis from where they are. */
  setThresholds(spec: ThresholdSpec): void {
    this.options.thresholds = spec;
    for (const track of this.tracks.values()) track.total = -1; // re-resolve on the next sample
  }

  setRate(intervalMs: number, adaptive: AdaptiveRate, processListIntervalMs?: number): void {
    this.options.intervalMs = intervalMs;
    this.options.adaptive = adaptive;
    if (processListIntervalMs !== undefined) this.options.processListIntervalMs = processListIntervalMs;
  }

  /**
   * Samples now, with every GPU's processes listed (a view is about to show them), and resolves with
   * that sample (null when there is no source). Waits for a sample in flight first; never overlaps one.
   */
  async sampleNow(): Promise<WatchedSample | null> {
    if (this.stopped || !this.source) return this.latest;
    while (this.running) await this.running;
    if (this.stopped || !this.source) return this.latest;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.processesNow = true;
    this.running = this.tick().finally(() => {
      this.running = null;
    });
    await this.running;
    return this.latest;
  }

  /** The latest sample for a check, or why there is none yet. */
  reading(): GpuReading {
    const status = this.status;
    if (status.state === 'none') return { ok: false, reason: status.reason };
    if (status.state !== 'ready' || !this.latest) return { ok: false, reason: 'the GPU is still being probed; try again in a moment' };
    return { ok: true, sample: this.latest.sample, description: status.source.description };
  }

  /** Closes the source and probes again now (after a settings change, or on request). */
  reprobe(): void {
    if (this.stopped) return;
    void (async () => {
      await this.running;
      await this.closeSource();
      if (this.timer !== null) this.clock.clearTimeout(this.timer);
      this.schedule(0);
    })();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.lastDelayMs = ms;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
      });
    }, ms);
  }

  private async tick(): Promise<void> {
    const source = this.source ?? (await this.probe());
    if (!source) return this.schedule(this.options.reprobeMs);
    let sample: GpuSample;
    const processes = this.processesNow ? 'now' : 'budget';
    this.processesNow = false;
    try {
      sample = await source.sample(this.clock.now(), { processes, processListIntervalMs: this.options.processListIntervalMs });
    } catch (err) {
      if (this.stopped) return;
      if (processes === 'now') this.processesNow = true;
      if (err instanceof DriverNotAnsweringError) return this.onNotAnswering(err, source);
      return this.onSampleError(err);
    }
    if (this.stopped) return;
    if (this.notAnsweringSince !== null) {
      this.log(`the GPU driver answers again (it was not answering since ${new Date(this.notAnsweringSince).toISOString()})`);
      this.notAnsweringSince = null;
    }
    this.failures = 0;
    const watched = this.classify(sample);
    this.latest = watched;
    this.emit('sample', watched);
    this.schedule(this.nextDelay(watched));
  }

  /** Opens a source and watches through it; null when none opened (or the watcher stopped meanwhile). */
  private async probe(): Promise<GpuSource | null> {
    this.setStatus({ state: 'probing' });
    let result: Awaited<ReturnType<OpenSource>>;
    const opening = new AbortController();
    this.opening = opening;
    try {
      result = await this.options.openSource(opening.signal);
    } catch (err) {
      result = { ok: false, reason: errorMessage(err) };
    } finally {
      if (this.opening === opening) this.opening = null;
    }
    if (this.stopped) {
      if (result.ok) await result.source.dispose();
      return null;
    }
    if (!result.ok) {
      this.setStatus({ state: 'none', reason: result.reason });
      return null;
    }
    this.source = result.source;
    this.failures = 0;
    this.processesNow = true;
    this.log(`watching through ${result.source.description}`);
    this.setStatus({ state: 'ready', source: result.source });
    return result.source;
  }

  private async onSampleError(err: unknown): Promise<void> {
    const error = toError(err);
    this.failures++;
    this.emit('error', error);
    this.log(`sample failed (${this.failures} in a row): ${error.message}`);
    if (this.failures >= this.options.failuresBeforeReprobe) {
      await this.closeSource();
      this.setStatus({ state: 'none', reason: `the GPU source stopped answering: ${error.message}` });
    }
    const backoff = Math.min(this.options.intervalMs * 2 ** this.failures, this.options.maxBackoffMs);
    this.schedule(backoff);
  }

  /**
   * A driver call has not returned. Every GPU of the source shows "not answering since …" (no memory,
   * so no level change, no notification, no fallback step); sampling goes on at the normal rate and
   * picks up as soon as the call returns. Stuck for too long, the source (its worker) is replaced.
   */
  private async onNotAnswering(err: DriverNotAnsweringError, source: GpuSource): Promise<void> {
    if (this.stopped) return;
    const now = this.clock.now();
    if (this.notAnsweringSince === null) {
      this.notAnsweringSince = err.since;
      this.log(`the GPU driver is not answering: ${err.message}`);
      this.emit('error', err);
    }
    const error = notAnsweringError(err, now);
    const previous = this.latest?.sample;
    const known = previous?.devices.length ? previous.devices : [emptyDevice(0)];
    const sample: GpuSample = {
      source: source.kind,
      timestamp: now,
      driverVersion: previous?.driverVersion ?? null,
      sourceVersion: previous?.sourceVersion ?? null,
      devices: known.map((d) => ({ ...emptyDevice(d.index), name: d.name, uuid: d.uuid, error: { ...error } })),
    };
    const watched = this.classify(sample);
    this.latest = watched;
    this.emit('sample', watched);
    if (now - err.since >= this.options.replaceStuckSourceAfterMs) {
      this.log(`the GPU driver has not answered for ${Math.round((now - err.since) / 1000)} s: replacing the source`);
      this.notAnsweringSince = null;
      await this.closeSource();
      // A fresh source next tick (not at once: a driver that still does not answer must not spin the loop).
      return this.schedule(this.options.intervalMs);
    }
    this.schedule(this.options.intervalMs);
  }

  private async closeSource(): Promise<void> {
    const source = this.source;
    this.source = null;
    if (!source) return;
    try {
      await source.dispose();
    } catch (err) {
      this.log(`closing ${source.kind} failed: ${String(err)}`);
    }
  }

  private setStatus(status: SourceStatus): void {
    this.status = status;
    this.emit('status', status);
  }

  private classify(sample: GpuSample): WatchedSample {
    const levels: Level[] = [];
    const thresholds: Array<ResolvedThresholds | null> = [];
    const problems: string[] = [];
    for (const device of sample.devices) {
      const key = device.uuid ?? `index:${device.index}`;
      let track = this.tracks.get(key);
      if (!device.memory) {
        levels.push(track?.level ?? 'ok');
        thresholds.push(track?.thresholds ?? null);
        continue;
      }
      const { total, used } = device.memory;
      if (!track || track.total !== total) {
        const resolved = resolveThresholds(this.options.thresholds, total);
        track = { level: track?.level ?? 'ok', total, thresholds: resolved.thresholds, problem: resolved.problem };
        this.tracks.set(key, track);
      }
      if (track.problem) problems.push(`GPU ${device.index}: ${track.problem}`);
      const to = nextLevel(track.level, used, track.thresholds);
      if (to !== track.level) {
        const transition: LevelTransition = {
          timestamp: sample.timestamp,
          gpu: device.index,
          uuid: device.uuid,
          from: track.level,
          to,
          usedBytes: used,
          totalBytes: total,
        };
        track.level = to;
        this.emit('transition', transition);
      }
      levels.push(track.level);
      thresholds.push(track.thresholds);
    }
    const key = problems.join('\n');
    if (key !== this.lastProblems) {
      this.lastProblems = key;
      this.emit('problems', problems);
    }
    return { sample, levels, thresholds };
  }

  private nextDelay(watched: WatchedSample): number {
    const { intervalMs, adaptive } = this.options;
    if (!adaptive.enabled) return intervalMs;
    let calm = true;
    for (const [i, device] of watched.sample.devices.entries()) {
      const t = watched.thresholds[i];
      const level = watched.levels[i] ?? 'ok';
      if (!device.memory || !t) continue;
      const margin = resolveSize(adaptive.margin, device.memory.total);
      if (levelRank(level) >= levelRank('critical')) return adaptive.fastIntervalMs;
      const next = level === 'ok' ? t.warning : t.critical;
      if (next - device.memory.used <= margin) return adaptive.fastIntervalMs;
      if (level !== 'ok' || t.warning - device.memory.used <= 2 * margin) calm = false;
    }
    return calm ? Math.max(adaptive.calmIntervalMs, intervalMs) : intervalMs;
  }
}
