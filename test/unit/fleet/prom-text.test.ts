/**
 * The fleet's Prometheus text-format reader against real writers: the emulated dcgm-exporter's
 * page (its Go template's output) and prom-client's, checked sample for sample against an
 * independent parser (parse-prometheus-text-format, a port of the Python client's), and its bounds.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Gauge, Registry } from 'prom-client';
import { parsePromText } from '../../../src/core/fleet/prom-text.ts';
import { FleetSourceError } from '../../../src/core/fleet/source-error.ts';
import { renderDcgm } from '../../fixtures/dcgm-exporter/dcgm-exporter.ts';
import { DGX_A100 } from '../../helpers/fleet-machines.ts';

interface RefFamily {
  name: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string }>;
}
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => RefFamily[];

/** Every sample the reference parser reads, as [name, labels, value]. */
function reference(text: string): Array<[string, Record<string, string>, number]> {
  return parsePrometheusTextFormat(text).flatMap((f) =>
    f.metrics.map((m): [string, Record<string, string>, number] => [f.name, m.labels ?? {}, Number(m.value)]),
  );
}

test("dcgm-exporter's page: every sample as an independent parser reads it, with the fixture's memory figures", () => {
  const text = renderDcgm(DGX_A100);
  const ours = parsePromText(text);
  assert.deepEqual(
    ours.map((s) => [s.name, s.labels, s.value]),
    reference(text),
  );
  const used = ours.filter((s) => s.name === 'DCGM_FI_DEV_FB_USED');
  assert.deepEqual(
    used.map((s) => [s.labels.gpu, s.labels.UUID, s.labels.modelName, s.labels.Hostname, s.value]),
    DGX_A100.gpus.map((g) => [String(g.index), g.uuid, g.modelName, DGX_A100.hostname, g.fbUsedMiB]),
  );
});

test("prom-client's escapes in label values (quote, backslash, newline) read back to the original text", async () => {
  const registry = new Registry();
  const g = new Gauge({ name: 'vram_guard_process_memory_used_bytes', help: 'x', labelNames: ['process', 'task'], registers: [registry] });
  const odd = 'C:\\models\\"llama"\nq4';
  g.set({ process: odd, task: 'chat, the "big" one' }, 1234567890);
  g.set({ process: 'plain', task: '' }, 0.5);
  const text = await registry.metrics();
  const ours = parsePromText(text);
  assert.deepEqual(
    ours.map((s) => [s.name, s.labels, s.value]),
    reference(text),
  );
  assert.equal(ours[0]!.labels.process, odd);
  assert.equal(ours[0]!.value, 1234567890);
});

test('only the metrics asked for are kept, and NaN / ±Inf are values', () => {
  const text = 'a_total 1\nb{x="1"} NaN\nb{x="2"} +Inf\nb{x="3"} -Inf 1700000000000\n';
  const ours = parsePromText(text, { names: new Set(['b']) });
  assert.equal(ours.length, 3);
  assert.ok(Number.isNaN(ours[0]!.value));
  assert.deepEqual(
    ours.slice(1).map((s) => s.value),
    [Infinity, -Infinity],
  );
});

test('bounds: more samples than allowed, or a line longer than allowed, are refused with a sentence', () => {
  const many = Array.from({ length: 11 }, (_, i) => `DCGM_FI_DEV_FB_USED{gpu="${i}"} 1`).join('\n');
  assert.throws(
    () => parsePromText(many, { maxSamples: 10 }),
    (e: unknown) => e instanceof FleetSourceError && e.kind === 'too-large' && /more than 10 samples/.test(e.message),
  );
  assert.throws(
    () => parsePromText(`x{a="${'y'.repeat(100)}"} 1`, { maxLineChars: 50 }),
    (e: unknown) => e instanceof FleetSourceError && /line 1 is 109 characters long, more than 50/.test(e.message),
  );
});

test('malformed lines are refused with the line number, never guessed at', () => {
  for (const [line, why] of [
    ['DCGM_FI_DEV_FB_USED{gpu="0" 7', /"," or "\}" was expected/],
    ['DCGM_FI_DEV_FB_USED{gpu=0} 7', /the value of gpu is not quoted/],
    ['DCGM_FI_DEV_FB_USED{gpu="0"} seven', /"seven" is not a number/],
    ['DCGM_FI_DEV_FB_USED{gpu="0",gpu="1"} 7', /label gpu appears twice/],
    ['{gpu="0"} 7', /no metric name/],
  ] as const) {
    assert.throws(
      () => parsePromText(`# HELP ok\nok 1\n${line}\n`),
      (e: unknown) => e instanceof FleetSourceError && e.kind === 'malformed' && /at line 3/.test(e.message) && why.test(e.message),
      line,
    );
  }
});
