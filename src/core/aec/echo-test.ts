/**
 * The echo test: plays noise on the default output while recording the raw microphone and the
 * cancelled source at the same time, then compares their levels once the canceller has had time
 * to adapt. The difference is how many dB the canceller removes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bytesPerSample, type AudioFormat } from './audio-format.ts';
import { audioBetween, startRecorder, type RecordingResult } from './recorder.ts';
import { noiseWav } from './test-signal.ts';
import { runTool, ToolMissingError } from './tools.ts';
import { measureLevel, toDbfs } from './level.ts';
import { errorMessage } from '../errors.ts';

export interface EchoTestOptions {
  /** The cancelled source. */
  cancelledSource: string;
  /** The microphone the canceller records from. */
  rawSource: string;
  format: AudioFormat;
  /** Length of the test signal, seconds (the canceller needs about two to adapt). */
  seconds: number;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export interface EchoTestResult {
  /** dB removed by the canceller (raw level minus cancelled level), once adapted. */
  reductionDb: number;
  rawDbfs: number;
  cancelledDbfs: number;
  /** Seconds of signal the figures were measured over. */
  measuredSeconds: number;
  /** Levels (dBFS, rounded) of consecutive half seconds from the start of the signal: how the canceller adapted. */
  timeline: { microphone: number[]; cancelled: number[] };
  /** The cancelled source was digitally silent: the reduction is a lower bound (the format's floor). */
  cancelledSilent: boolean;
}

/** The level of one least significant bit: the quietest a non-silent recording in this format can be. */
export function floorDbfs(format: AudioFormat): number {
  if (format.sampleFormat === 'float32le') return -150;
  return 20 * Math.log10(1 / 2 ** (bytesPerSample(format.sampleFormat) * 8 - 1));
}

export class EchoTestError extends Error {
  readonly advice: string;
  constructor(message: string, advice: string) {
    super(message);
    this.name = 'EchoTestError';
    this.advice = advice;
  }
}

/** Fraction of the signal given to the canceller to adapt before measuring. */
const adaptFraction = 0.4;

export async function runEchoTest(o: EchoTestOptions): Promise<EchoTestResult> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-echo-'));
  const wav = join(dir, 'noise.wav');
  const maxMs = (o.seconds + 8) * 1000;
  const common = { format: o.format, env: o.env, maxMs, ...(o.signal ? { signal: o.signal } : {}) };
  const raw = startRecorder({ ...common, source: o.rawSource });
  const cancelled = startRecorder({ ...common, source: o.cancelledSource });
  let results: [RecordingResult, RecordingResult] | null = null;
  try {
    await writeFile(wav, noiseWav(o.seconds));
    const deadline = 3000;
    const [rawOk, cancelledOk] = await Promise.all([raw.firstByte(deadline), cancelled.firstByte(deadline)]);
    if (!rawOk || !cancelledOk) {
      results = await Promise.all([raw.finish(), cancelled.finish()]);
      const which = !rawOk ? `the microphone "${o.rawSource}"` : `"${o.cancelledSource}"`;
      const err = (!rawOk ? results[0] : results[1]).toolError;
      throw new EchoTestError(
        `No audio came from ${which} within ${deadline / 1000} s${err ? ` (${err})` : ''}.`,
        'Run the check without the echo test first; it says why recording fails.',
      );
    }
    const playStart = performance.now();
    const play = await runTool('pw-play', [wav], { env: o.env, timeoutMs: (o.seconds + 5) * 1000, ...(o.signal ? { signal: o.signal } : {}) });
    const playEnd = performance.now();
    await sleep(150);
    results = await Promise.all([raw.finish(), cancelled.finish()]);
    if (play.canceled) throw new EchoTestError('The echo test was cancelled.', '');
    if (play.exitCode !== 0) {
      throw new EchoTestError(
        `pw-play could not play the test signal (${play.timedOut ? 'timed out' : `exit code ${play.exitCode ?? '?'}`}: ${play.stderr.trim() || 'no message'}).`,
        'Check that a default output exists: pactl info | grep "Default Sink".',
      );
    }
    // Measure the adapted part: from 40 % of the signal to its end (playback ends after the last sample).
    const from = playStart + (playEnd - playStart) * adaptFraction;
    const to = playEnd - 100;
    const frame = bytesPerSample(o.format.sampleFormat) * o.format.channels;
    const rawLevel = measureLevel(audioBetween(results[0].chunks, from, to, frame), o.format);
    const cancLevel = measureLevel(audioBetween(results[1].chunks, from, to, frame), o.format);
    if (rawLevel.samples === 0 || cancLevel.samples === 0) {
      throw new EchoTestError(
        'The recordings stopped while the test signal played.',
        'Run the check again; if it repeats, restart PipeWire (systemctl --user restart pipewire pipewire-pulse wireplumber).',
      );
    }
    const rawDbfs = toDbfs(Math.sqrt(rawLevel.energy / rawLevel.samples));
    const cancelledDbfs = toDbfs(Math.sqrt(cancLevel.energy / cancLevel.samples));
    if (!(rawDbfs > -60)) {
      throw new EchoTestError(
        `The test signal did not reach the microphone "${o.rawSource}" (its level stayed at ${Number.isFinite(rawDbfs) ? rawDbfs.toFixed(1) : '-inf'} dBFS while the noise played).`,
        'Turn the speakers on and up, unmute the microphone, and run the echo test again; with headphones there is no echo to cancel.',
      );
    }
    const halves = (chunks: RecordingResult['chunks']): number[] => {
      const out: number[] = [];
      for (let t = playStart; t + 500 <= playEnd; t += 500) {
        const l = measureLevel(audioBetween(chunks, t, t + 500, frame), o.format);
        out.push(Number.isFinite(l.rmsDbfs) ? Math.round(l.rmsDbfs) : -200);
      }
      return out;
    };
    const timeline = { microphone: halves(results[0].chunks), cancelled: halves(results[1].chunks) };
    const floor = floorDbfs(o.format);
    const reductionDb = rawDbfs - Math.max(cancelledDbfs, floor);
    return { reductionDb, rawDbfs, cancelledDbfs, measuredSeconds: (to - from) / 1000, timeline, cancelledSilent: !(cancelledDbfs > floor) };
  } catch (e) {
    if (e instanceof ToolMissingError || e instanceof EchoTestError) throw e;
    throw new EchoTestError(`The echo test failed: ${errorMessage(e)}`, 'Run the check again; if it repeats, restart PipeWire.');
  } finally {
    if (results === null) await Promise.allSettled([raw.finish(), cancelled.finish()]);
    await rm(dir, { recursive: true, force: true });
  }
}
