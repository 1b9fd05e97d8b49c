/**
 * The replay source: a simulated GPU that plays a recorded trace (docs/trace-format.md).
 * It lets the extension run, be demonstrated and be tested on a machine without an NVIDIA GPU.
 *
 * Trace time runs `speed` times faster than the watcher's clock. Gaps in the trace longer than
 * `maxGapMs` are played as `maxGapMs`, so hours of steady state pass in seconds while bursts keep
 * their shape. At the end the trace starts over (unless `loop` is false: then the last sample holds).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { deviceFromRow, parseTrace, TraceFormatError, type Trace, type TraceSampleRow } from './trace-format.ts';
import type { GpuDevice, GpuSample, GpuSource } from './types.ts';

export interface ReplayOptions {
  file: string;
  /** Trace seconds per second of wall time; default 1. */
  speed?: number;
  /** Longest gap played as recorded, in trace milliseconds; default 3000. */
  maxGapMs?: number;
  /** Start over at the end; default true. */
  loop?: boolean;
  log?: (message: string) => void;
}

export type ReplayOpenResult = { ok: true; source: ReplaySource } | { ok: false; reason: string };

export const DEFAULT_MAX_GAP_MS = 3000;

interface Frame {
  /** Position on the played timeline, in trace milliseconds from the start. */
  at: number;
  rows: TraceSampleRow[];
}

interface PlayedEvent {
  at: number;
  text: string;
}

export async function openReplay(options: ReplayOptions): Promise<ReplayOpenResult> {
  const speed = options.speed ?? 1;
  if (typeof speed !== 'number' || !Number.isFinite(speed) || speed <= 0) {
    return { ok: false, reason: `replay speed must be a number above 0, got ${String(speed)}` };
  }
  const maxGapMs = options.maxGapMs ?? DEFAULT_MAX_GAP_MS;
  if (!Number.isFinite(maxGapMs) || maxGapMs <= 0) return { ok: false, reason: `replay maxGapMs must be above 0, got ${maxGapMs}` };
  if (!options.file) return { ok: false, reason: 'no trace file given for the replay source (set vramGuard.replayFile)' };
  let text: string;
  try {
    text = await readFile(options.file, 'utf8');
  } catch (err) {
    return { ok: false, reason: `cannot read the trace ${options.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  let trace: Trace;
  try {
    trace = parseTrace(text, options.file);
  } catch (err) {
    if (err instanceof TraceFormatError) return { ok: false, reason: `invalid trace: ${err.message}` };
    throw err;
  }
  const source = new ReplaySource(trace, options.file, speed, maxGapMs, options.loop ?? true, options.log ?? (() => {}));
  source.announce();
  return { ok: true, source };
}

export class ReplaySource implements GpuSource {
  readonly kind = 'replay' as const;
  readonly description: string;
  readonly trace: Trace;
  /** Length of one pass, in trace milliseconds (after gap shortening). */
  readonly durationMs: number;
  private readonly frames: Frame[];
  private readonly events: PlayedEvent[];
  private readonly speed: number;
  private readonly loop: boolean;
  private readonly log: (message: string) => void;
  private start: number | null = null;
  private lastPosition = -1;
  private lastPass = 0;
  private disposed = false;

  constructor(trace: Trace, file: string, speed: number, maxGapMs: number, loop: boolean, log: (message: string) => void) {
    this.trace = trace;
    this.speed = speed;
    this.loop = loop;
    this.log = log;
    const { frames, events, duration } = buildTimeline(trace, maxGapMs);
    this.frames = frames;
    this.events = events;
    this.durationMs = duration;
    this.description = `Simulated GPU: replay of "${trace.header.title}" (${basename(file)}) at ${speed}x, not a real GPU`;
  }

  announce(): void {
    this.log(
      `Simulated GPU: replaying "${this.trace.header.title}" at ${this.speed}x; one pass takes ${(this.durationMs / this.speed / 1000).toFixed(0)} s` +
        `${this.loop ? ', then starts over' : ''}. The figures are recorded, not measured.`,
    );
  }

  /** Position on the played timeline for a watcher timestamp (starts at the first call). */
  positionAt(timestamp: number): { position: number; pass: number } {
    if (this.start === null) this.start = timestamp;
    const elapsed = Math.max(0, timestamp - this.start) * this.speed;
    if (!this.loop || this.durationMs === 0) return { position: Math.min(elapsed, this.durationMs), pass: 0 };
    return { position: elapsed % this.durationMs, pass: Math.floor(elapsed / this.durationMs) };
  }

  async sample(timestamp: number): Promise<GpuSample> {
    if (this.disposed) throw new Error('the replay source was disposed');
    const { position, pass } = this.positionAt(timestamp);
    this.reportEvents(position, pass);
    const latest = new Map<number, TraceSampleRow>();
    for (const frame of this.frames) {
      if (frame.at > position) break;
      for (const row of frame.rows) latest.set(row.gpu, row);
    }
    const devices: GpuDevice[] = this.trace.header.devices.map((info) => {
      // Before the device's first row is played, show its first row in the trace.
      const row = latest.get(info.index) ?? firstRowOf(this.frames, info.index);
      return deviceFromRow(row, info);
    });
    return { source: 'replay', timestamp, driverVersion: null, sourceVersion: null, devices };
  }

  private reportEvents(position: number, pass: number): void {
    if (pass !== this.lastPass) {
      this.log(`Simulated GPU: the trace starts over (pass ${pass + 1}).`);
      this.lastPass = pass;
      this.lastPosition = -1;
    }
    for (const event of this.events) {
      if (event.at > this.lastPosition && event.at <= position) this.log(`Simulated GPU event: ${event.text}`);
    }
    this.lastPosition = position;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

function firstRowOf(frames: Frame[], gpu: number): TraceSampleRow {
  for (const f of frames) for (const r of f.rows) if (r.gpu === gpu) return r;
  // A device in the header with no rows: show it as unreadable rather than invent figures.
  return {
    time: 0,
    gpu,
    usedMiB: 0,
    totalMiB: 1,
    reservedMiB: null,
    utilGpu: null,
    utilMem: null,
    temperatureC: null,
    powerW: null,
    processes: [],
    error: 'NO_DATA',
    line: 1,
  };
}

/** Groups rows by time and maps trace time to played time, shortening long gaps. */
export function buildTimeline(trace: Trace, maxGapMs: number): { frames: Frame[]; events: PlayedEvent[]; duration: number } {
  const frames: Frame[] = [];
  const times: Array<{ time: number; at: number }> = [];
  let at = 0;
  let prev: number | null = null;
  let frame: Frame | null = null;
  for (const row of trace.samples) {
    if (frame === null || row.time !== prev) {
      if (prev !== null) at += Math.min(row.time - prev, maxGapMs);
      frame = { at, rows: [] };
      frames.push(frame);
      times.push({ time: row.time, at });
      prev = row.time;
    }
    frame.rows.push(row);
  }
  const toPlayed = (time: number): number => {
    let base = times[0];
    // No samples: nothing to place the event after.
    if (base === undefined || time <= base.time) return 0;
    for (const t of times) {
      if (t.time > time) break;
      base = t;
    }
    return base.at + Math.min(time - base.time, maxGapMs);
  };
  const events = trace.events.map((e) => ({ at: toPlayed(e.time), text: e.text }));
  // Hold the last sample for one more gap before starting over.
  const duration = at + maxGapMs;
  return { frames, events, duration };
}
