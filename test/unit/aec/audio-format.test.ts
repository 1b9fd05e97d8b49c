/** Levels in dBFS, the recording format, byte counts and the test signal. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bytesPerSecond,
  defaultAudioFormat,
  expectedBytes,
  judgeByteCount,
  parseFormatSpec,
  validateFormat,
  type AudioFormat,
} from '../../../src/core/aec/audio-format.ts';
import { formatDbfs, measureLevel, toDbfs, windowLevels } from '../../../src/core/aec/level.ts';
import { floorDbfs } from '../../../src/core/aec/echo-test.ts';
import { noiseWav } from '../../../src/core/aec/test-signal.ts';

const s16: AudioFormat = { sampleFormat: 's16le', channels: 1, rate: 24000 };

function s16Buffer(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  for (const [i, v] of values.entries()) b.writeInt16LE(v, i * 2);
  return b;
}

describe('level', () => {
  it('is -inf dBFS and all zero for digital silence', () => {
    const l = measureLevel(Buffer.alloc(4800), s16);
    assert.equal(l.allZero, true);
    assert.equal(l.rmsDbfs, -Infinity);
    assert.equal(formatDbfs(l.rmsDbfs), '-inf dBFS');
  });

  it('is about -3 dBFS RMS and 0 dBFS peak for a full-scale sine', () => {
    const n = 24000;
    const l = measureLevel(s16Buffer(Array.from({ length: n }, (_, i) => Math.round(32767 * Math.sin((2 * Math.PI * 1000 * i) / 24000)))), s16);
    assert.ok(Math.abs(l.rmsDbfs - -3.01) < 0.05, String(l.rmsDbfs));
    assert.ok(Math.abs(l.peakDbfs) < 0.01);
    assert.equal(l.allZero, false);
  });

  it('reads every sample format', () => {
    const half = 0.5;
    const u8 = Buffer.from([128 + 64, 128 - 64]);
    const s24 = Buffer.alloc(6);
    s24.writeIntLE(4194304, 0, 3);
    s24.writeIntLE(-4194304, 3, 3);
    const s32 = Buffer.alloc(8);
    s32.writeInt32LE(1073741824, 0);
    s32.writeInt32LE(-1073741824, 4);
    const f32 = Buffer.alloc(8);
    f32.writeFloatLE(half, 0);
    f32.writeFloatLE(-half, 4);
    for (const [fmt, buf] of [
      ['u8', u8],
      ['s24le', s24],
      ['s32le', s32],
      ['float32le', f32],
    ] as const) {
      const l = measureLevel(buf, { sampleFormat: fmt, channels: 1, rate: 8000 });
      assert.ok(Math.abs(l.rmsDbfs - toDbfs(half)) < 0.01, `${fmt}: ${l.rmsDbfs}`);
    }
  });

  it('ignores a trailing partial sample and splits windows', () => {
    assert.equal(measureLevel(Buffer.alloc(5), s16).samples, 2);
    assert.equal(windowLevels(Buffer.alloc(24000 * 2 + 100), s16, 0.25).length, 4);
  });

  it('knows the quietest non-silent level of a format', () => {
    assert.ok(Math.abs(floorDbfs(s16) - -90.3) < 0.1);
    assert.ok(Math.abs(floorDbfs({ ...s16, sampleFormat: 'u8' }) - -42.1) < 0.1);
  });
});

describe('recording format', () => {
  it('defaults to S16LE, 1 channel, 24000 Hz: 48000 bytes a second', () => {
    assert.deepEqual(defaultAudioFormat, { sampleFormat: 's16le', channels: 1, rate: 24000 });
    assert.equal(bytesPerSecond(defaultAudioFormat), 48000);
    assert.equal(expectedBytes(defaultAudioFormat, 1), 48000);
    assert.equal(expectedBytes({ sampleFormat: 'float32le', channels: 2, rate: 48000 }, 0.5), 192000);
    assert.equal(expectedBytes({ sampleFormat: 's16le', channels: 2, rate: 44100 }, 0.3), 13230 * 4);
  });

  it('validates the setting and says what is wrong', () => {
    assert.deepEqual(validateFormat({ sampleFormat: 'S16LE', channels: 2, rate: 16000 }), {
      format: { sampleFormat: 's16le', channels: 2, rate: 16000 },
      problems: [],
    });
    const bad = validateFormat({ sampleFormat: 'mp3', channels: 0, rate: '24000', extra: 1 });
    assert.deepEqual(bad.format, defaultAudioFormat);
    assert.equal(bad.problems.length, 4);
    assert.match(bad.problems.join(' '), /sampleFormat "mp3" is not one of u8, s16le/);
    assert.match(bad.problems.join(' '), /channels 0/);
    assert.match(bad.problems.join(' '), /rate "24000"/);
    assert.match(validateFormat('s16le').problems[0]!, /must be an object/);
  });

  it('parses the CLI form', () => {
    assert.deepEqual(parseFormatSpec('float32le:2:48000').format, { sampleFormat: 'float32le', channels: 2, rate: 48000 });
    assert.match(parseFormatSpec('s16le:1').problems[0]!, /FORMAT:CHANNELS:RATE/);
    assert.match(parseFormatSpec('s16le:x:24000').problems[0]!, /channels "x"/);
  });

  it('judges byte counts with a tolerance of 10 %', () => {
    assert.equal(judgeByteCount(48000, 48000).ok, true);
    assert.equal(judgeByteCount(43200, 48000).ok, true);
    assert.equal(judgeByteCount(43199, 48000).ok, false);
    assert.equal(judgeByteCount(52801, 48000).ok, false);
    assert.equal(judgeByteCount(0, 0).ok, false);
    assert.equal(judgeByteCount(24000, 48000).ratio, 0.5);
  });
});

describe('test signal', () => {
  it('is a mono 16-bit WAV of noise at -20 dBFS RMS', () => {
    const wav = noiseWav(1, 48000);
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.readUInt16LE(22), 1);
    assert.equal(wav.readUInt32LE(24), 48000);
    assert.equal(wav.readUInt32LE(40), 96000);
    const l = measureLevel(wav.subarray(44), { sampleFormat: 's16le', channels: 1, rate: 48000 });
    assert.ok(Math.abs(l.rmsDbfs - -20) < 0.3, String(l.rmsDbfs));
    assert.deepEqual(noiseWav(0.1), noiseWav(0.1));
  });
});
