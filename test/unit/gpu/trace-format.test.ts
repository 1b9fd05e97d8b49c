/** The trace format: parsing, the errors that name the line, and the round trip through formatTrace. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deviceFromRow, formatTrace, parseTrace, rowFromDevice, TraceFormatError } from '../../../src/core/gpu/trace-format.ts';
import { MiB } from '../../../src/core/units.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';

const header = '{"vramGuardTrace":1,"title":"t","devices":[{"index":0,"name":"GPU A","totalMiB":4096}]}';

function errorOf(text: string): TraceFormatError {
  try {
    parseTrace(text, 'x.jsonl');
  } catch (err) {
    assert.ok(err instanceof TraceFormatError, String(err));
    return err;
  }
  assert.fail('expected a TraceFormatError');
}

describe('trace format', () => {
  it('parses a header, samples and events, with ISO and epoch times', () => {
    const trace = parseTrace(
      [
        header,
        '// a comment',
        '',
        '{"t":"2025-10-31T07:14:57Z","gpu":0,"usedMiB":3600,"utilGpu":0,"processes":[{"pid":7,"name":"py","usedMiB":3400}]}',
        '{"t":"2025-10-31T07:14:58Z","event":"speech"}',
        `{"t":${Date.parse('2025-10-31T07:14:59Z')},"usedMiB":3740,"reservedMiB":100}`,
      ].join('\n'),
    );
    assert.equal(trace.header.title, 't');
    assert.deepEqual(trace.header.devices, [{ index: 0, name: 'GPU A', uuid: null, totalMiB: 4096 }]);
    assert.equal(trace.samples.length, 2);
    assert.equal(trace.samples[0]!.time, Date.parse('2025-10-31T07:14:57Z'));
    assert.equal(trace.samples[0]!.line, 4);
    assert.equal(trace.samples[1]!.gpu, 0, 'gpu defaults to 0');
    assert.equal(trace.samples[1]!.totalMiB, 4096, 'total comes from the header');
    assert.deepEqual(trace.events, [{ time: Date.parse('2025-10-31T07:14:58Z'), text: 'speech', line: 5 }]);
  });

  it('names the file and line of every kind of mistake', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['', 1, /empty trace/],
      ['{"title":"no version"}', 1, /first line must be the header/],
      ['{"vramGuardTrace":2,"title":"t","devices":[{"totalMiB":1}]}', 1, /unsupported trace version 2/],
      ['{"vramGuardTrace":1,"title":"t","devices":[]}', 1, /"devices" must be a non-empty array/],
      [`${header}\n{"t":"2025-10-31T07:14:57Z","usedMiB":1}\nnot json`, 3, /not valid JSON/],
      [`${header}\n{"t":"yesterday","usedMiB":1}`, 2, /"t" must be an ISO 8601 time/],
      [`${header}\n{"t":2000,"usedMiB":1}\n{"t":1000,"usedMiB":1}`, 3, /earlier than the line before/],
      [`${header}\n{"t":1000,"gpu":3,"usedMiB":1}`, 2, /"gpu" 3 is not a device in the header/],
      [`${header}\n{"t":1000,"usedMiB":5000}`, 2, /more than the device's totalMiB 4096/],
      [`${header}\n{"t":1000}`, 2, /"usedMiB" is missing/],
      [`${header}\n{"t":1000,"usedMiB":1,"usedGiB":1}`, 2, /unknown field "usedGiB"/],
      [`${header}\n{"t":1000,"usedMiB":1,"utilGpu":130}`, 2, /"utilGpu" must be a number from 0 to 100/],
      [`${header}\n{"t":1000,"usedMiB":1,"processes":[{"pid":-1}]}`, 2, /processes\[0\]\.pid/],
      [`${header}\n${header}`, 2, /a second header/],
      [header, 1, /no samples/],
    ];
    for (const [text, line, pattern] of cases) {
      const err = errorOf(text);
      assert.equal(err.line, line, `${text} → ${err.message}`);
      assert.match(err.message, pattern);
      assert.ok(err.message.startsWith(`x.jsonl:${line}: `), err.message);
    }
  });

  it('turns a row into a GpuDevice with bytes, free memory and processes', () => {
    const trace = parseTrace(`${header}\n{"t":1000,"usedMiB":3740,"reservedMiB":56,"temperatureC":70,"processes":[{"pid":9,"name":"py","usedMiB":3600}]}`);
    const device = deviceFromRow(trace.samples[0]!, trace.header.devices[0]);
    assert.equal(device.name, 'GPU A');
    assert.deepEqual(device.memory, { total: 4096 * MiB, used: 3740 * MiB, free: (4096 - 3740 - 56) * MiB, reserved: 56 * MiB });
    assert.equal(device.temperatureC, 70);
    assert.deepEqual(device.processes, [{ pid: 9, name: 'py', usedBytes: 3600 * MiB, kind: 'compute' }]);
  });

  it('marks a recorded device error on the device', () => {
    const trace = parseTrace(`${header}\n{"t":1000,"error":"GPU_IS_LOST"}`);
    const device = deviceFromRow(trace.samples[0]!, trace.header.devices[0]);
    assert.equal(device.memory, null);
    assert.equal(device.error?.code, 'GPU_IS_LOST');
  });

  it('round-trips through formatTrace and rowFromDevice', () => {
    const text = [
      header,
      '{"t":"2025-10-31T07:14:57.000Z","gpu":0,"usedMiB":3600,"utilGpu":3}',
      '{"t":"2025-10-31T07:14:58.000Z","event":"speech"}',
      '{"t":"2025-10-31T07:14:59.000Z","gpu":0,"usedMiB":3740,"processes":[{"pid":1,"name":"a","usedMiB":3000}]}',
    ].join('\n');
    const trace = parseTrace(text);
    const again = parseTrace(formatTrace(trace));
    assert.deepEqual(
      again.samples.map(({ line: _l, ...s }) => s),
      trace.samples.map(({ line: _l, ...s }) => s),
    );
    assert.deepEqual(
      again.events.map((e) => e.text),
      ['speech'],
    );
    const device = deviceFromRow(trace.samples[1]!, trace.header.devices[0]);
    assert.deepEqual(rowFromDevice(trace.samples[1]!.time, device), {
      t: '2025-10-31T07:14:59.000Z',
      gpu: 0,
      usedMiB: 3740,
      totalMiB: 4096,
      processes: [{ pid: 1, name: 'a', usedMiB: 3000 }],
    });
  });

  it('reads the shipped field-note trace: 3.6 GB steady, 91 % at the speech burst, the daemon gone after the cascade', async () => {
    const file = join(repoRoot, 'media', 'traces', 'a1000-4gb-speech-cascade.jsonl');
    const trace = parseTrace(await readFile(file, 'utf8'), file);
    assert.equal(trace.header.devices[0]!.totalMiB, 4096);
    const at = (iso: string) => trace.samples.filter((s) => s.time <= Date.parse(iso)).at(-1)!;
    assert.equal(at('2025-10-31T03:00:00Z').usedMiB, 3600);
    const peak = Math.max(...trace.samples.map((s) => s.usedMiB));
    assert.equal(peak, 3740);
    assert.equal(Math.round((peak / 4096) * 100), 91);
    const steady = Date.parse('2025-10-31T07:14:57Z') - Date.parse('2025-10-30T20:24:03Z');
    assert.equal(steady, (10 * 3600 + 50 * 60 + 54) * 1000, 'steady for 10 h 50 min 54 s, as reported');
    assert.ok(at('2025-10-31T07:19:10Z').usedMiB < 500, 'the daemon is gone after the cascade');
    assert.ok(trace.events.some((e) => /4,759 CUDA errors/.test(e.text)));
  });
});
