/** 16-bit mono PCM WAV files, as the echo test plays and Whisper servers transcribe. */

const HEADER_BYTES = 44;

/** A WAV file of `count` samples at `rate` Hz; `sample(i)` gives each in [-1, 1]. */
export function pcm16MonoWav(count: number, rate: number, sample: (i: number) => number): Buffer {
  const dataBytes = count * 2;
  const buf = Buffer.alloc(HEADER_BYTES + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28); // bytes per second
  buf.writeUInt16LE(2, 32); // bytes per frame
  buf.writeUInt16LE(16, 34); // bits per sample
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < count; i++) {
    const v = sample(i);
    if (v !== 0) buf.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32767))), HEADER_BYTES + i * 2);
  }
  return buf;
}
