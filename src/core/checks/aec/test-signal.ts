/** The echo test's signal: white noise at a fixed level, as a 16-bit mono WAV file. */

/** Noise with an RMS of `rmsDbfs`, reproducible (seeded), `seconds` long at `rate` Hz. */
export function noiseWav(seconds: number, rate = 48000, rmsDbfs = -20, seed = 1): Buffer {
  const n = Math.round(seconds * rate);
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(n * 2, 40);
  // Uniform noise in [-a, a] has an RMS of a / sqrt(3).
  const a = Math.min(1, Math.sqrt(3) * 10 ** (rmsDbfs / 20));
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const u = s / 4294967296; // [0, 1)
    buf.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round((u * 2 - 1) * a * 32767))), 44 + i * 2);
  }
  return buf;
}
