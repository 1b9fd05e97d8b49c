/**
 * CUDA error lines in a server's output, and the cascade they make: the scanner counts each error
 * line once, whatever the chunking and however long the line; the detector, on a fake clock, calls
 * a cascade at the field note's rate (4,759 errors in 4 minutes, 40–50 a second) and not for a
 * lone error or a short burst.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CascadeDetector } from '../../../src/core/servers/cascade-detector.ts';
import { CascadeWatch, cascadeText } from '../../../src/core/servers/cascade-watch.ts';
import { CUDA_ERROR_PATTERNS } from '../../../src/core/servers/cuda-errors.ts';
import { CudaErrorScanner, type CudaErrorLine } from '../../../src/core/servers/cuda-error-scanner.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { MiB } from '../../../src/core/units.ts';

// Lines as the servers print them (from the sources the pattern table names).
const GGML = 'CUDA error: unspecified launch failure\n  current device: 0, in function ggml_backend_cuda_synchronize at ggml-cuda.cu:2461\n';
const ALLOC = 'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 3626.50 MiB on device 0: cudaMalloc failed: out of memory\n';
const TORCH = 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 3.81 GiB\n';
const CT2 = 'RuntimeError: CUDA failed with error out of memory\n';

function scan(chunks: (string | Buffer)[]): CudaErrorLine[] {
  const found: CudaErrorLine[] = [];
  const s = new CudaErrorScanner((l) => found.push(l));
  for (const c of chunks) s.push(c);
  return found;
}

describe('CUDA error lines', () => {
  it('counts each error line once, from each server kind, and ignores ordinary lines', () => {
    const text = `llama_model_load: loaded meta data\n${GGML}${ALLOC}${TORCH}${CT2}INFO: 127.0.0.1:51234 - "POST /inference" 200 OK\n`;
    const found = scan([text]);
    assert.deepEqual(
      found.map((f) => f.pattern.text),
      ['CUDA error', 'cudaMalloc failed', 'CUDA out of memory', 'CUDA failed with error'],
    );
    assert.equal(found[0]!.excerpt, 'CUDA error: unspecified launch failure');
  });

  it('finds a pattern cut between two chunks, at every cut', () => {
    const line = 'frame 12: CUDA error: an illegal memory access was encountered\n';
    for (let cut = 1; cut < line.length; cut++) {
      assert.equal(scan([line.slice(0, cut), line.slice(cut)]).length, 1, `cut at ${cut}`);
    }
    const bytes = Buffer.from(`ok\n${line}ok\n${line}`);
    assert.equal(scan([...bytes].map((b) => Buffer.from([b]))).length, 2, 'one byte at a time');
  });

  it('finds an error inside a 1 MB line, once, streamed in 64 KiB chunks', () => {
    const big = `${'x'.repeat(700_000)} cudaMalloc failed: out of memory ${'y'.repeat(348_000)} CUDA error\nnext line\n`;
    const buf = Buffer.from(big);
    const chunks: Buffer[] = [];
    for (let i = 0; i < buf.length; i += 65_536) chunks.push(buf.subarray(i, i + 65_536));
    const found = scan(chunks);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.excerpt.length, 240);
    assert.ok(found[0]!.excerpt.length <= 240);
    assert.match(found[0]!.excerpt, /cudaMalloc failed: out of memory/);
  });

  it('every pattern in the table names where it comes from', () => {
    for (const p of CUDA_ERROR_PATTERNS) assert.ok(p.origin.length > 10, p.text);
  });
});

describe('CUDA error cascades', () => {
  it("replays the field note's 4,759 errors at 40–50 a second: one cascade, called in the third second", async () => {
    const clock = new FakeClock(1_761_894_897_000); // the field note's speech burst, 07:14:57
    const detector = new CascadeDetector(undefined, () => clock.now());
    const scanner = new CudaErrorScanner(() => {
      const c = detector.record();
      if (c) cascades.push(c);
    });
    const cascades: NonNullable<ReturnType<CascadeDetector['record']>>[] = [];
    let sent = 0;
    let second = 0;
    while (sent < 4759) {
      const rate = 40 + (second % 11); // 40..50 a second
      for (let i = 0; i < rate && sent < 4759; i++, sent++) {
        scanner.push(GGML);
        await clock.advance(Math.floor(1000 / rate));
      }
      await clock.advance(1000 - Math.floor(1000 / rate) * rate);
      second++;
    }
    assert.equal(scanner.count, 4759);
    assert.ok(second >= 96 && second <= 120, `${second} s`);
    assert.equal(cascades.length, 1);
    const c = cascades[0]!;
    assert.equal(c.startedAt, 1_761_894_897_000);
    assert.ok(c.detectedAt - c.startedAt >= 2000 && c.detectedAt - c.startedAt < 3000, `called after ${c.detectedAt - c.startedAt} ms`);
    assert.ok(c.perSecond >= 40, `${c.perSecond}/s`);
  });

  it('a lone error, a steady 4 a second and a half-second burst of 100 are not cascades', async () => {
    const clock = new FakeClock(0);
    const d = new CascadeDetector({ perSecond: 5, seconds: 3 }, () => clock.now());
    const calls: unknown[] = [];
    calls.push(d.record());
    await clock.advance(5000);
    for (let i = 0; i < 60 * 4; i++) {
      calls.push(d.record());
      await clock.advance(250);
    }
    for (let i = 0; i < 100; i++) {
      calls.push(d.record());
      await clock.advance(5);
    }
    await clock.advance(3000);
    calls.push(d.record());
    assert.deepEqual(
      calls.filter((c) => c !== null),
      [],
    );
  });

  it('a second cascade after a quiet spell is called again', async () => {
    const clock = new FakeClock(0);
    const d = new CascadeDetector({ perSecond: 5, seconds: 3 }, () => clock.now());
    let called = 0;
    const burst = async (seconds: number) => {
      for (let i = 0; i < seconds * 10; i++) {
        if (d.record()) called++;
        await clock.advance(100);
      }
    };
    await burst(5);
    assert.equal(called, 1);
    await clock.advance(10_000);
    await burst(5);
    assert.equal(called, 2);
  });
});

describe("a task's output watched for cascades", () => {
  it('counts error lines split across interleaved stdout and stderr chunks, and tells the cascade with the GPU at that moment', async () => {
    const clock = new FakeClock(0);
    const told: string[] = [];
    const watch = new CascadeWatch({
      now: () => clock.now(),
      onCascade: (c, last) =>
        told.push(
          cascadeText(
            c,
            last,
            { name: 'stt', pid: 4242, gpu: 0 },
            {
              ok: true,
              description: 'test',
              sample: {
                timestamp: 0,
                devices: [{ index: 0, name: 'A1000', memory: { total: 4096 * MiB, used: 3740 * MiB, free: 356 * MiB } }],
              } as never,
            },
          ),
        ),
    });
    for (let i = 0; i < 40; i++) {
      // Each error line arrives in two pieces, with a line of the other stream in between.
      watch.push('RuntimeError: CUDA error: unspec', 'stderr');
      watch.push('INFO: transcribing segment\n', 'stdout');
      watch.push('ified launch failure\n', 'stderr');
      await clock.advance(100);
    }
    assert.equal(watch.errors, 40);
    assert.deepEqual(told, [
      'cascade: 25 CUDA error lines in 2.4 s (10 a second) from stt (PID 4242); GPU 0 at 91 % (3740 MiB of 4096 MiB). Last: "RuntimeError: CUDA error: unspecified launch failure"',
    ]);
  });
});
