/**
 * Records from a PulseAudio source with parec in a given format, timing the bytes as they come,
 * and (on request) watches which source the stream is really connected to: PipeWire silently
 * records from the default source when the source asked for does not exist.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AudioFormat } from './audio-format.ts';
import { parseSourceOutputs, parseSources } from './pactl-json.ts';
import { runTool, startStreamingTool, ToolMissingError } from './tools.ts';

export interface RecorderOptions {
  source: string;
  format: AudioFormat;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Upper bound on the whole recording, milliseconds (the tool is killed after it). */
  maxMs: number;
  /** Poll pactl for the stream's source while recording. */
  watchStream?: boolean;
}

export interface Chunk {
  /** `performance.now()` when the chunk arrived (one clock for every recorder in the process). */
  t: number;
  /** Byte offset of the chunk in the recording. */
  offset: number;
  data: Buffer;
}

export interface RecordingResult {
  chunks: Chunk[];
  /** Milliseconds from start to the first byte; null when none came. */
  firstByteMs: number | null;
  /** The source the stream was seen connected to; null when not seen. */
  streamSource: { index: number; name: string | null } | null;
  /** parec's exit code and error output when it ended by itself with an error. */
  toolError: string | null;
}

export interface Recorder {
  /** Resolves with true at the first byte, false when the tool ends or `deadlineMs` passes first. */
  firstByte(deadlineMs: number): Promise<boolean>;
  bytesSoFar(): number;
  /** Resolves with true once `n` bytes have come, false when the tool ends or `timeoutMs` passes first. */
  whenBytes(n: number, timeoutMs: number): Promise<boolean>;
  /** Milliseconds since the recorder started. */
  now(): number;
  /** Stops recording and returns what was recorded; throws ToolMissingError when parec is missing. */
  finish(): Promise<RecordingResult>;
}

export function startRecorder(o: RecorderOptions): Recorder {
  const started = performance.now();
  const now = (): number => performance.now() - started;
  const streamName = `vram-guard-aec-${randomUUID()}`;
  const tool = startStreamingTool(
    'parec',
    [
      `--device=${o.source}`,
      `--format=${o.format.sampleFormat}`,
      `--channels=${o.format.channels}`,
      `--rate=${o.format.rate}`,
      // The default fragment is about 2 s: without this a short recording gets no bytes at all.
      // 50 ms is no less than PipeWire's default quantum (1024 at 48 kHz), so recording does not
      // make the graph switch to a smaller quantum (which moves PipeWire 0.3's echo canceller off
      // its alignment).
      '--latency-msec=50',
      '--client-name=VRAM Guard',
      `--stream-name=${streamName}`,
    ],
    { env: o.env, timeoutMs: o.maxMs, ...(o.signal ? { signal: o.signal } : {}) },
  );
  const chunks: Chunk[] = [];
  let bytes = 0;
  let firstByteMs: number | null = null;
  let ended = false;
  const waiters: (() => void)[] = [];
  tool.stdout.on('data', (data: Buffer) => {
    chunks.push({ t: performance.now(), offset: bytes, data });
    bytes += data.length;
    if (firstByteMs === null) firstByteMs = now();
    for (const w of waiters.splice(0)) w();
  });
  void tool.exited.then(() => {
    ended = true;
    for (const w of waiters.splice(0)) w();
  });

  let streamSource: number | null = null;
  let watching = o.watchStream === true;
  const pollStream = async (): Promise<boolean> => {
    try {
      const r = await runTool('pactl', ['-f', 'json', 'list', 'source-outputs'], { env: o.env, timeoutMs: 3000, ...(o.signal ? { signal: o.signal } : {}) });
      if (r.exitCode === 0) {
        const mine = parseSourceOutputs(r.stdout).find((so) => so.properties['media.name'] === streamName);
        if (mine && mine.source !== null) streamSource = mine.source;
      }
      return true;
    } catch {
      // pactl gone or output not understood: the stream's source stays unknown.
      return false;
    }
  };
  const watcher = (async () => {
    while (watching && !ended) {
      if (!(await pollStream())) return;
      await sleep(100);
    }
  })();

  return {
    firstByte(deadlineMs) {
      if (firstByteMs !== null) return Promise.resolve(true);
      if (ended) return Promise.resolve(false);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(firstByteMs !== null), Math.max(0, deadlineMs - now()));
        waiters.push(() => {
          clearTimeout(timer);
          resolve(firstByteMs !== null);
        });
        // (Called at the first chunk or at the end, whichever comes first.)
      });
    },
    bytesSoFar: () => bytes,
    whenBytes(n, timeoutMs) {
      return new Promise((resolve) => {
        const check = (): boolean => {
          if (bytes >= n || ended) {
            clearTimeout(timer);
            resolve(bytes >= n);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => resolve(bytes >= n), timeoutMs);
        const wait = (): void => {
          if (!check()) waiters.push(wait);
        };
        wait();
      });
    },
    now,
    async finish() {
      const endedBefore = ended;
      // One last look while the stream still exists, when the polls have not seen it yet.
      if (watching && streamSource === null && !ended) await pollStream();
      watching = false;
      tool.stop();
      const exit = await tool.exited;
      await watcher;
      if (exit.missing) throw new ToolMissingError('parec');
      let name: string | null = null;
      if (streamSource !== null) {
        try {
          const r = await runTool('pactl', ['-f', 'json', 'list', 'sources'], { env: o.env, timeoutMs: 3000 });
          name = parseSources(r.stdout).find((s) => s.index === streamSource)?.name ?? null;
        } catch {
          name = null;
        }
      }
      return {
        chunks,
        firstByteMs,
        streamSource: streamSource === null ? null : { index: streamSource, name },
        toolError: endedBefore && exit.exitCode !== 0 ? `parec exited with code ${exit.exitCode ?? '?'}: ${exit.stderr.trim() || '(no message)'}` : null,
      };
    },
  };
}

/**
 * The audio of the chunks that arrived in [fromT, toT) (`performance.now()` times), cut at whole
 * frames of `frameBytes` so that samples stay aligned whatever the chunk sizes.
 */
export function audioBetween(chunks: readonly Chunk[], fromT: number, toT: number, frameBytes: number): Buffer {
  const inside = chunks.filter((c) => c.t >= fromT && c.t < toT);
  const first = inside[0];
  const last = inside[inside.length - 1];
  if (first === undefined || last === undefined) return Buffer.alloc(0);
  const all = Buffer.concat(chunks.map((c) => c.data));
  const align = (n: number): number => Math.floor(n / frameBytes) * frameBytes;
  return all.subarray(align(first.offset), align(last.offset + last.data.length));
}
