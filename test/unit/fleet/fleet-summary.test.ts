/** The status bar's fleet line and the CRITICAL notifications' trigger. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fleetLine, leftOutLines, newlyCritical } from '../../../src/core/fleet/fleet-summary.ts';
import type { FleetGpu, FleetHost, FleetSnapshot } from '../../../src/core/fleet/fleet-types.ts';
import { GiB } from '../../../src/core/units.ts';
import type { Level } from '../../../src/core/watch/levels.ts';
import { statusView } from '../../../src/vscode/status-bar/status-view.ts';

const gpu = (index: number, level: Level): FleetGpu => ({
  index,
  name: 'RTX',
  uuid: `GPU-${index}`,
  usedBytes: GiB,
  totalBytes: 8 * GiB,
  freeBytes: 7 * GiB,
  thresholds: { warning: 6 * GiB, critical: 7 * GiB, emergency: 7.5 * GiB },
  thresholdsFrom: 'ours',
  level,
  holders: [],
  sparkline: [],
  exporter: 'vram-guard',
});
const host = (name: string, levels: Level[], stale = false): FleetHost => ({
  name,
  instance: `${name}:9835`,
  source: 's',
  gpus: levels.map((l, i) => gpu(i, l)),
  lastSampleAt: 0,
  stale: stale ? { since: 0 } : null,
});
const snap = (hosts: FleetHost[], failing = 0): FleetSnapshot => ({
  at: 0,
  hosts,
  sources: [
    { source: 'p', ok: true, hosts: hosts.length, ms: 1 },
    ...Array.from({ length: failing }, (_, i) => ({ source: `bad${i}`, ok: false as const, kind: 'timeout' as const, error: 'x', ms: 1 })),
  ],
  leftOut: [],
});

test('"fleet: 3 hosts, 7 GPUs, 1 CRITICAL", with stale hosts and failing sources counted apart', () => {
  assert.equal(
    fleetLine(snap([host('a', ['ok', 'ok']), host('b', ['critical', 'ok', 'warning']), host('c', ['ok', 'ok'])])),
    'fleet: 3 hosts, 7 GPUs, 1 CRITICAL',
  );
  assert.equal(fleetLine(snap([host('a', ['emergency']), host('b', ['critical'], true)], 1)), 'fleet: 1 host, 1 GPU, 1 EMERGENCY, 1 stale, 1 source failing');
});

test('the tooltip carries the fleet line', () => {
  const view = statusView({
    status: { state: 'none', reason: 'no NVIDIA driver' },
    latest: null,
    gpu: 'worst',
    hideWhenNoGpu: false,
    fleetLine: 'fleet: 3 hosts, 7 GPUs, 1 CRITICAL',
  });
  assert.match(view.tooltip, /fleet: 3 hosts, 7 GPUs, 1 CRITICAL/);
});

test('a notification only when a GPU turns CRITICAL or worse after the first refresh; stale hosts never notify', () => {
  const first = snap([host('a', ['ok', 'critical'])]);
  assert.deepEqual(newlyCritical(null, first), []);
  const second = snap([host('a', ['critical', 'critical']), host('b', ['emergency'], true)]);
  assert.deepEqual(
    newlyCritical(first, second).map((t) => `${t.host}/${t.gpu}:${t.level}`),
    ['a/0:critical'],
  );
  const third = snap([host('a', ['critical', 'emergency'])]);
  assert.deepEqual(
    newlyCritical(second, third).map((t) => `${t.host}/${t.gpu}:${t.level}`),
    ['a/1:emergency'],
  );
});

test('GPUs left out are counted in the line and each said in a sentence, their text printable', () => {
  const s: FleetSnapshot = {
    ...snap([host('a', ['ok'])]),
    leftOut: [
      {
        host: 'liar\x1b]0;x\x07',
        instance: 'liar:9835',
        source: 'http://liar:9835/metrics',
        gpu: 0,
        reason: 'implausible reading: used is negative (-5368709120 B)',
      },
    ],
  };
  assert.equal(fleetLine(s), 'fleet: 1 host, 1 GPU, 1 GPU left out');
  assert.deepEqual(leftOutLines(s), [
    'left out: liar\\x1B]0;x\\x07 GPU 0 (from http://liar:9835/metrics): implausible reading: used is negative (-5368709120 B)',
  ]);
});
