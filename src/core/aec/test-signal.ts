/** The echo test's signal: white noise at a fixed level, as a 16-bit mono WAV file. */
import { pcm16MonoWav } from '../audio/wav.ts';

/** Noise with an RMS of `rmsDbfs`, reproducible (seeded), `seconds` long at `rate` Hz. */
export function noiseWav(seconds: number, rate = 48000, rmsDbfs = -20, seed = 1): Buffer {
  // Uniform noise in [-a, a] has an RMS of a / sqrt(3).
  const a = Math.min(1, Math.sqrt(3) * 10 ** (rmsDbfs / 20));
  let s = seed >>> 0 || 1;
  return pcm16MonoWav(Math.round(seconds * rate), rate, () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const u = s / 4294967296; // [0, 1)
    return (u * 2 - 1) * a;
  });
}
