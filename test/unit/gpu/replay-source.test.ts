/** The replay source: a simulated GPU playing a trace, on the watcher's clock. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openReplay, type ReplaySource } from '../../../src/core/gpu/replay-source.ts';
import { MiB } from '../../../src/core/units.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';

const header = '{"vramGuardTrace":1,"title":"Two steps","devices":[{"index":0,"name":"GPU A","totalMiB":1000},{"index":1,"name":"GPU B","totalMiB":2000}]}';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function traceFile(lines: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-replay-'));
  dirs.push(dir);
  const file = join(dir, 'trace.jsonl');
  await writeFile(file, `${[header, ...lines].join('\n')}\n`);
  return file;
}

async function open(file: string, options: { speed?: number; loop?: boolean; maxGapMs?: number } = {}, log: string[] = []): Promise<ReplaySource> {
  const result = await openReplay({ file, log: (m) => log.push(m), ...options });
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return result.source;
}

const used = async (source: ReplaySource, t: number, gpu = 0) => (await source.sample(t)).devices[gpu]!.memory!.used / MiB;

const T0 = Date.parse('2025-10-31T07:00:00Z');
const steps = [
  `{"t":${T0},"gpu":0,"usedMiB":100}`,
  `{"t":${T0},"gpu":1,"usedMiB":200}`,
  `{"t":${T0 + 1000},"gpu":0,"usedMiB":500}`,
  `{"t":${T0 + 1500},"event":"burst"}`,
  `{"t":${T0 + 2000},"gpu":0,"usedMiB":900}`,
];

describe('replay source', () => {
  it('is a simulated source and says so', async () => {
    const source = await open(await traceFile(steps));
    assert.equal(source.kind, 'replay');
    assert.match(source.description, /Simulated GPU/);
    assert.match(source.description, /Two steps/);
  });

  it('plays the trace on the caller clock, holding each device at its last row', async () => {
    const source = await open(await traceFile(steps), { loop: false });
    const start = 1_000_000;
    assert.equal(await used(source, start), 100);
    assert.equal(await used(source, start + 999), 100);
    assert.equal(await used(source, start + 1000), 500);
    assert.equal(await used(source, start + 1000, 1), 200, 'GPU 1 holds its only row');
    assert.equal(await used(source, start + 2500), 900);
    assert.equal(await used(source, start + 60_000), 900, 'without loop the last row holds');
    const sample = await source.sample(start + 2500);
    assert.equal(sample.source, 'replay');
    assert.equal(sample.timestamp, start + 2500, 'the sample carries the watcher timestamp');
    assert.deepEqual(
      sample.devices.map((d) => d.name),
      ['GPU A', 'GPU B'],
    );
  });

  it('plays faster with speed and starts over at the end', async () => {
    const source = await open(await traceFile(steps), { speed: 2, maxGapMs: 1000 });
    // One pass: 2000 ms of trace + one held gap (1000) = 3000 ms of trace = 1500 ms at 2x.
    assert.equal(source.durationMs, 3000);
    assert.equal(await used(source, 0), 100);
    assert.equal(await used(source, 500), 500);
    assert.equal(await used(source, 1000), 900);
    assert.equal(await used(source, 1500), 100, 'starts over');
  });

  it('shortens long gaps so hours of steady state pass in seconds', async () => {
    const hours = [`{"t":${T0},"usedMiB":100}`, `{"t":${T0 + 10 * 3600_000},"usedMiB":800}`];
    const source = await open(await traceFile(hours), { maxGapMs: 3000, loop: false });
    assert.equal(await used(source, 0), 100);
    assert.equal(await used(source, 3000), 800);
  });

  it('logs the trace events as they are played, and the start over', async () => {
    const log: string[] = [];
    const source = await open(await traceFile(steps), { maxGapMs: 1000 }, log);
    assert.match(log[0]!, /Simulated GPU: replaying "Two steps"/);
    await source.sample(0);
    await source.sample(1600);
    assert.ok(log.includes('Simulated GPU event: burst'), log.join('\n'));
    await source.sample(3100);
    assert.ok(
      log.some((m) => /starts over/.test(m)),
      log.join('\n'),
    );
  });

  it('refuses what it cannot play, with the reason', async () => {
    // In a folder of this test's own: a file of that name in the shared temp folder would change the test.
    const missing = await openReplay({ file: join(await mkdtemp(join(tmpdir(), 'vram-guard-replay-missing-')), 'no-such-trace.jsonl') });
    assert.ok(!missing.ok && /cannot read the trace .*ENOENT/.test(missing.reason));
    const bad = await openReplay({ file: await traceFile(['{"t":1000,"usedMiB":5000}']) });
    assert.ok(!bad.ok && /invalid trace: .*trace\.jsonl:2: "usedMiB" 5000 is more than/.test(bad.reason), bad.ok ? '' : bad.reason);
    const speed = await openReplay({ file: await traceFile(steps), speed: 0 });
    assert.ok(!speed.ok && /speed must be a number above 0/.test(speed.reason));
    const none = await openReplay({ file: '' });
    assert.ok(!none.ok && /vramGuard\.replayFile/.test(none.reason));
  });

  it('tells the field-note story within the first minute at speed 1: WARNING, then 91 %, then the crash', async () => {
    const source = await open(join(repoRoot, 'media', 'traces', 'a1000-4gb-speech-cascade.jsonl'));
    const percent = async (s: number) => {
      const m = (await source.sample(s * 1000)).devices[0]!.memory!;
      return (m.used / m.total) * 100;
    };
    const seen: number[] = [];
    for (let s = 0; s <= 90; s++) seen.push(await percent(s));
    const first = (pred: (p: number) => boolean) => seen.findIndex(pred);
    assert.ok(seen[0]! < 80, 'starts below WARNING');
    const warning = first((p) => p >= 80);
    const critical = first((p) => p >= 90);
    assert.ok(warning > 0 && warning < 20, `WARNING at ${warning} s`);
    assert.ok(critical > warning && critical < 60, `CRITICAL at ${critical} s`);
    assert.equal(Math.round(Math.max(...seen)), 91);
    assert.ok(
      seen.slice(critical).some((p) => p < 10),
      'the daemon crashes and its memory is released',
    );
  });
});
