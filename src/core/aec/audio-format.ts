/**
 * The recording format the application uses (default S16LE, 1 channel, 24000 Hz): validation of
 * the setting and of the CLI's `s16le:1:24000`, sizes, and the byte-count tolerance.
 */

export const sampleFormats = ['u8', 's16le', 's24le', 's32le', 'float32le'] as const;
export type SampleFormat = (typeof sampleFormats)[number];

export interface AudioFormat {
  sampleFormat: SampleFormat;
  channels: number;
  rate: number;
}

export const defaultAudioFormat: AudioFormat = { sampleFormat: 's16le', channels: 1, rate: 24000 };

const bytesPer: Record<SampleFormat, number> = { u8: 1, s16le: 2, s24le: 3, s32le: 4, float32le: 4 };

export function bytesPerSample(format: SampleFormat): number {
  return bytesPer[format];
}

export function bytesPerSecond(f: AudioFormat): number {
  return bytesPer[f.sampleFormat] * f.channels * f.rate;
}

/** Bytes in `seconds` of audio, rounded down to whole frames. */
export function expectedBytes(f: AudioFormat, seconds: number): number {
  const frame = bytesPer[f.sampleFormat] * f.channels;
  return Math.floor(seconds * f.rate) * frame;
}

export function formatToString(f: AudioFormat): string {
  return `${f.sampleFormat.toUpperCase()}, ${f.channels} channel${f.channels === 1 ? '' : 's'}, ${f.rate} Hz`;
}

/** The value problems of a format-like object; empty when it is a valid AudioFormat. */
export function formatProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`the format must be an object like {"sampleFormat": "s16le", "channels": 1, "rate": 24000}, not ${JSON.stringify(value)}`];
  }
  const o = value as Record<string, unknown>;
  const problems: string[] = [];
  const sf = typeof o.sampleFormat === 'string' ? o.sampleFormat.toLowerCase() : o.sampleFormat;
  if (!sampleFormats.includes(sf as SampleFormat)) {
    problems.push(`sampleFormat ${JSON.stringify(o.sampleFormat)} is not one of ${sampleFormats.join(', ')}`);
  }
  const ch = o.channels;
  if (typeof ch !== 'number' || !Number.isInteger(ch) || ch < 1 || ch > 8) problems.push(`channels ${JSON.stringify(ch)} is not a whole number from 1 to 8`);
  const rate = o.rate;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 8000 || rate > 192000) {
    problems.push(`rate ${JSON.stringify(rate)} is not a whole number of Hz from 8000 to 192000`);
  }
  for (const key of Object.keys(o)) if (!['sampleFormat', 'channels', 'rate'].includes(key)) problems.push(`"${key}" is not a format field`);
  return problems;
}

/** Validates a format object (e.g. the `vramGuard.aec.format` setting). */
export function validateFormat(value: unknown): { format: AudioFormat; problems: string[] } {
  const problems = formatProblems(value);
  if (problems.length > 0) return { format: defaultAudioFormat, problems };
  const o = value as Record<string, unknown>;
  return {
    format: { sampleFormat: (o.sampleFormat as string).toLowerCase() as SampleFormat, channels: o.channels as number, rate: o.rate as number },
    problems: [],
  };
}

/** Parses the CLI form `s16le:1:24000`. */
export function parseFormatSpec(spec: string): { format: AudioFormat; problems: string[] } {
  const [sampleFormat, channels, rate, ...extra] = spec.split(':');
  if (sampleFormat === undefined || channels === undefined || rate === undefined || extra.length > 0) {
    return { format: defaultAudioFormat, problems: [`"${spec}" is not FORMAT:CHANNELS:RATE, e.g. s16le:1:24000`] };
  }
  const num = (s: string): number | string => (/^\d+$/.test(s) ? Number(s) : s);
  return validateFormat({ sampleFormat, channels: num(channels), rate: num(rate) });
}

/** Relative tolerance on the byte count of a recording (startup and chunking make it inexact). */
export const byteTolerance = 0.1;

export interface ByteCountVerdict {
  ok: boolean;
  /** received / expected, e.g. 0.98 */
  ratio: number;
}

export function judgeByteCount(received: number, expected: number, tolerance = byteTolerance): ByteCountVerdict {
  const ratio = expected > 0 ? received / expected : 0;
  return { ok: expected > 0 && Math.abs(ratio - 1) <= tolerance, ratio };
}
