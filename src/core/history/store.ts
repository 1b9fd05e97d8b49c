/**
 * The history of every GPU's used VRAM, system RAM and swap, and the events shown on the chart.
 * In memory: full rate for the recent window, min/max buckets for older data (series.ts).
 * On disk (when given a folder): append-only, batched, rotated by size (files.ts), read back
 * at start so the history survives reloads and crashes. An imported log is a store without a folder.
 */
import { systemClock, type Clock } from '../clock.ts';
import { Emitter } from '../events.ts';
import type { Points } from './downsample.ts';
import { HistoryFiles, type HistoryFs, type ReadStats } from './files.ts';
import { encodeEvent, encodeSample } from './lines.ts';
import { DEFAULT_SERIES_OPTIONS, Series, type SeriesOptions } from './series.ts';
import type { HistoryEvent, HistoryRecord, HistorySample, SystemMemory } from './types.ts';
import { MiB } from '../units.ts';

const timeOf = (r: HistoryRecord) => (r.type === 'sample' ? r.sample.t : r.event.t);
const iso = (t: number) => (Number.isFinite(t) && Math.abs(t) < 8.64e15 ? new Date(t).toISOString() : String(t));

/** A series: one GPU's used VRAM (`gpu:0`), system RAM (`ram`) or swap (`swap`). */
export type SeriesKey = `gpu:${number}` | 'ram' | 'swap';

export const DAY_MS = 24 * 3_600_000;
export const DEFAULT_RETENTION_DAYS = 7;
export const DEFAULT_MAX_FILE_MB = 16;
/**
 * How far ahead of the clock a record may be stamped (clocks of two sources can differ by a little).
 * A record further ahead is refused: the series only move forward, so one such record would hide
 * every later sample, also after a reload.
 */
export const FUTURE_TOLERANCE_MS = 2 * 60_000;

export interface HistoryStoreOptions {
  /** Where the files go; null keeps the history in memory only (an imported log). */
  dir: string | null;
  retentionMs?: number;
  maxFileBytes?: number;
  recentMs?: number;
  bucketMs?: number;
  /** Events kept (oldest dropped first). */
  maxEvents?: number;
  flushMs?: number;
  clock?: Clock;
  log?: (message: string) => void;
  /** The file operations (tests inject a full disk). */
  fs?: HistoryFs;
}

type Events = { sample: [HistorySample]; event: [HistoryEvent] };

export class HistoryStore extends Emitter<Events> {
  private readonly series = new Map<SeriesKey, Series>();
  private readonly seriesOptions: SeriesOptions;
  private readonly files: HistoryFiles | null;
  private readonly maxEvents: number;
  private readonly clock: Clock;
  private eventList: HistoryEvent[] = [];
  private readonly totals = new Map<number, number>();
  private system: SystemMemory | null = null;
  private newest = -Infinity;
  /** Set once the files are read: records that came in meanwhile are held until then. */
  private loading: HistoryRecord[] | null = null;
  private readonly log: ((message: string) => void) | undefined;
  /** Records refused because they were stamped in the future. */
  refusedFuture = 0;
  /** Events dropped because more than `maxEvents` came (the oldest go first). */
  droppedEvents = 0;
  /** Times the clock stepped back, and the points that dropped from the chart for it. */
  readonly clockSteps = { count: 0, droppedPoints: 0 };
  private smallStepSaid = false;

  constructor(options: HistoryStoreOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.seriesOptions = {
      recentMs: options.recentMs ?? DEFAULT_SERIES_OPTIONS.recentMs,
      bucketMs: options.bucketMs ?? DEFAULT_SERIES_OPTIONS.bucketMs,
      retentionMs: options.retentionMs ?? DEFAULT_RETENTION_DAYS * DAY_MS,
    };
    this.maxEvents = options.maxEvents ?? 5000;
    this.log = options.log;
    this.files = options.dir
      ? new HistoryFiles({
          dir: options.dir,
          maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_MB * MiB,
          retentionMs: this.seriesOptions.retentionMs,
          flushMs: options.flushMs,
          clock: this.clock,
          log: options.log,
          fs: options.fs,
        })
      : null;
  }

  /** Reads the files into memory. Samples recorded while it reads are kept and added after. */
  async load(): Promise<ReadStats> {
    if (!this.files) return { files: 0, records: 0, tornLines: 0, badLines: 0 };
    this.loading = [];
    let stats: ReadStats;
    try {
      const now = this.clock.now();
      const cutoff = now - this.seriesOptions.retentionMs;
      let future = 0;
      let latest = -Infinity;
      // A writer's own file in which time goes back is a clock that stepped back while it ran: the
      // chart goes on from the new time, as it did live. Another file's older samples (a second
      // window's) do not rewind it.
      let file = -1;
      let fileNewest = -Infinity;
      stats = await this.files.read((r, fileIndex) => {
        const t = timeOf(r);
        if (fileIndex !== file) {
          file = fileIndex;
          fileNewest = -Infinity;
        }
        if (t > now + FUTURE_TOLERANCE_MS) {
          future++;
          latest = Math.max(latest, t);
          return;
        }
        if (r.type === 'sample') {
          if (t < fileNewest) this.rewind(t, fileNewest);
          fileNewest = Math.max(fileNewest, t);
        }
        if (t >= cutoff) this.apply(r);
      });
      stats.futureRecords = future;
      if (future)
        this.log?.(`history: skipped ${future} record(s) stamped in the future (up to ${iso(latest)}, while the clock reads ${iso(now)}); the rest loads.`);
    } finally {
      const held = this.loading ?? [];
      this.loading = null;
      for (const r of held) this.apply(r);
    }
    return stats;
  }

  /** Records one sample: in memory at once, on disk within the flush interval. */
  record(sample: HistorySample): void {
    if (this.refuseFuture(sample.t, 'sample')) return;
    if (sample.t < this.newest && !this.loading) this.rewind(sample.t, this.newest);
    this.files?.append(encodeSample(sample));
    if (this.loading) this.loading.push({ type: 'sample', sample });
    else this.apply({ type: 'sample', sample });
    this.emit('sample', sample);
  }

  recordEvent(event: HistoryEvent): void {
    if (this.refuseFuture(event.t, `event "${event.text.slice(0, 80)}"`)) return;
    this.files?.append(encodeEvent(event));
    if (this.loading) this.loading.push({ type: 'event', event });
    else this.apply({ type: 'event', event });
    this.emit('event', event);
  }

  /** A record stamped beyond the tolerance ahead of the clock is refused and logged (the first, then every 1000th). */
  private refuseFuture(t: number, what: string): boolean {
    const now = this.clock.now();
    if (t <= now + FUTURE_TOLERANCE_MS) return false;
    if (this.refusedFuture++ % 1000 === 0) {
      this.log?.(
        `history: refused a ${what} stamped ${iso(t)}, ${Math.round((t - now) / 1000)} s ahead of the clock (${iso(now)}); ${this.refusedFuture} refused so far. A clock that jumped, or a source with a wrong clock, is the usual cause.`,
      );
    }
    return true;
  }

  /**
   * The clock stepped back (a sample at `t` after one at `from`): the points from `t` on leave the
   * chart so the samples that follow are shown, and the log says so. The files keep every line.
   */
  private rewind(t: number, from: number): void {
    let dropped = 0;
    for (const s of this.series.values()) dropped += s.rewind(t);
    this.newest = -Infinity;
    for (const s of this.series.values()) this.newest = Math.max(this.newest, s.last ?? -Infinity);
    this.clockSteps.count++;
    this.clockSteps.droppedPoints += dropped;
    // A step of a second or more is always said; a clock that jitters back by milliseconds is said once.
    const small = from - t < 1000;
    if (small && this.smallStepSaid) return;
    this.smallStepSaid ||= small;
    this.log?.(
      `history: the clock went back ${small ? `${Math.round(from - t)} ms` : `${Math.round((from - t) / 1000)} s`} (a sample stamped ${iso(t)} came after one stamped ${iso(from)}): the chart goes on from ${iso(t)}, and the ${dropped} point(s) it held from that time on are no longer shown (the history files keep them)${small ? '; steps back of less than a second are not logged again' : ''}.`,
    );
  }

  /** Adds a record read from a file or an import (not written again). */
  apply(r: HistoryRecord): void {
    if (r.type === 'event') {
      const e = r.event;
      const list = this.eventList;
      const last = list[list.length - 1];
      if (last && last.t > e.t) {
        // After every event at or before its time (a binary search: imports bring many).
        let lo = 0;
        let hi = list.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          const at = list[mid];
          if (at && at.t <= e.t) lo = mid + 1;
          else hi = mid;
        }
        list.splice(lo, 0, e);
      } else list.push(e);
      // Cut back in steps, not one splice per event: a million events must not move the list a million times.
      if (list.length > this.maxEvents + Math.max(64, this.maxEvents >> 3)) {
        this.droppedEvents += list.length - this.maxEvents;
        list.splice(0, list.length - this.maxEvents);
      }
      return;
    }
    const s = r.sample;
    if (s.t > this.newest) this.newest = s.t;
    for (const g of s.gpus) {
      this.seriesOf(`gpu:${g.gpu}`).add(s.t, g.used);
      this.totals.set(g.gpu, g.total);
    }
    if (s.system) {
      this.seriesOf('ram').add(s.t, s.system.ramUsed);
      this.seriesOf('swap').add(s.t, s.system.swapUsed);
      this.system = s.system;
    }
  }

  private seriesOf(key: SeriesKey): Series {
    let s = this.series.get(key);
    if (!s) {
      s = new Series(this.seriesOptions);
      this.series.set(key, s);
    }
    return s;
  }

  /** The GPU indexes seen, in order. */
  gpus(): number[] {
    return [...this.totals.keys()].sort((a, b) => a - b);
  }

  totalOf(gpu: number): number | null {
    return this.totals.get(gpu) ?? null;
  }

  /** The latest RAM and swap totals (and figures), or null when never sampled. */
  latestSystem(): SystemMemory | null {
    return this.system;
  }

  /** The first and last times held, or null when empty. */
  bounds(): { first: number; last: number } | null {
    let first = Infinity;
    for (const s of this.series.values()) first = Math.min(first, s.first ?? Infinity);
    if (first === Infinity || this.newest === -Infinity) return null;
    return { first, last: this.newest };
  }

  /** A series' points in [from, to], at most `maxPoints` (min/max downsampled: peaks stay). */
  range(key: SeriesKey, from: number, to: number, maxPoints = Infinity): Points {
    return this.series.get(key)?.range(from, to, maxPoints) ?? { t: [], v: [] };
  }

  events(from = -Infinity, to = Infinity): HistoryEvent[] {
    const list = this.eventList;
    const skip = Math.max(0, list.length - this.maxEvents);
    const out: HistoryEvent[] = [];
    for (let i = skip; i < list.length; i++) {
      const e = list[i];
      if (e && e.t >= from && e.t <= to) out.push(e);
    }
    return out;
  }

  /** Events held beyond `maxEvents` so far (they go at the next cut): counted with those dropped. */
  eventsOverCap(): number {
    return this.droppedEvents + Math.max(0, this.eventList.length - this.maxEvents);
  }

  /** Points held in memory across every series (for the memory budget). */
  pointCount(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.size;
    return n;
  }

  setLimits(limits: { retentionMs?: number; maxFileBytes?: number }): void {
    if (limits.retentionMs !== undefined) {
      this.seriesOptions.retentionMs = limits.retentionMs;
      for (const s of this.series.values()) s.setRetention(limits.retentionMs);
      const cutoff = this.newest - limits.retentionMs;
      this.eventList = this.eventList.filter((e) => e.t >= cutoff);
    }
    this.files?.setLimits(limits);
  }

  /** The files on disk in time order (for export); empty for an in-memory store. */
  async filePaths(): Promise<string[]> {
    await this.files?.flush();
    return this.files ? this.files.list() : [];
  }

  flush(): Promise<void> {
    return this.files?.flush() ?? Promise.resolve();
  }

  /** Lines waiting to reach the disk (while it cannot be written). */
  waitingLines(): number {
    return this.files?.waiting ?? 0;
  }

  async close(): Promise<void> {
    await this.files?.close();
    this.clear();
  }
}
