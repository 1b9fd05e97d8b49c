/** Signal level of raw PCM: RMS and peak in dBFS (0 dBFS = full scale), silence detection. */
import { bytesPerSample, type AudioFormat } from './audio-format.ts';

export interface Level {
  /** RMS level in dBFS; -Infinity for digital silence. */
  rmsDbfs: number;
  /** Peak level in dBFS; -Infinity for digital silence. */
  peakDbfs: number;
  /** Every sample is exactly zero. */
  allZero: boolean;
  samples: number;
  /** Sum of squared normalised samples (for combining windows). */
  energy: number;
}

/** Reads sample `i` as a value in [-1, 1). */
function sampleReader(buf: Buffer, format: AudioFormat): (i: number) => number {
  switch (format.sampleFormat) {
    case 'u8':
      return (i) => (buf.readUInt8(i) - 128) / 128;
    case 's16le':
      return (i) => buf.readInt16LE(i * 2) / 32768;
    case 's24le':
      return (i) => buf.readIntLE(i * 3, 3) / 8388608;
    case 's32le':
      return (i) => buf.readInt32LE(i * 4) / 2147483648;
    case 'float32le':
      return (i) => buf.readFloatLE(i * 4);
  }
}

export function toDbfs(amplitude: number): number {
  return amplitude > 0 ? 20 * Math.log10(amplitude) : -Infinity;
}

/** Level of whole samples in `buf` (a trailing partial sample is ignored). */
export function measureLevel(buf: Buffer, format: AudioFormat): Level {
  const n = Math.floor(buf.length / bytesPerSample(format.sampleFormat));
  const read = sampleReader(buf, format);
  let energy = 0;
  let peak = 0;
  let allZero = true;
  for (let i = 0; i < n; i++) {
    const v = read(i);
    if (v !== 0) allZero = false;
    energy += v * v;
    const a = Math.abs(v);
    if (a > peak) peak = a;
  }
  return { rmsDbfs: n > 0 ? toDbfs(Math.sqrt(energy / n)) : -Infinity, peakDbfs: toDbfs(peak), allZero: n === 0 || allZero, samples: n, energy };
}

/** Levels of consecutive windows of `windowSeconds` (the last, partial window is dropped). */
export function windowLevels(buf: Buffer, format: AudioFormat, windowSeconds: number): Level[] {
  const frame = bytesPerSample(format.sampleFormat) * format.channels;
  const windowBytes = Math.max(frame, Math.round(windowSeconds * format.rate) * frame);
  const out: Level[] = [];
  for (let start = 0; start + windowBytes <= buf.length; start += windowBytes) {
    out.push(measureLevel(buf.subarray(start, start + windowBytes), format));
  }
  return out;
}

/** "-23.4 dBFS" or "-inf dBFS". */
export function formatDbfs(db: number): string {
  return Number.isFinite(db) ? `${db.toFixed(1)} dBFS` : '-inf dBFS';
}
