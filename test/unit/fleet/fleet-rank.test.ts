/**
 * "Where does it fit?" over a fleet built from the test fleet's machines (their figures, not the
 * ranking's): order by room after the need, the margin, the level the GPU would reach, stale last.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostsFromSamples } from '../../../src/core/fleet/fleet-hosts.ts';
import { rankFleet } from '../../../src/core/fleet/fleet-rank.ts';
import { parsePromText } from '../../../src/core/fleet/prom-text.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import { DEFAULT_THRESHOLDS } from '../../../src/core/watch/thresholds.ts';
import { renderDcgm } from '../../fixtures/dcgm-exporter/dcgm-exporter.ts';
import { DGX_A100, GPU_LAB } from '../../helpers/fleet-machines.ts';

/** gpu-lab as its exporter writes it (bytes, with its thresholds: 80 / 90 / 95 % of each total). */
function labPage(): string {
  const lines: string[] = [];
  GPU_LAB.state.devices.forEach((d, i) => {
    const l = `hostname="gpu-lab",gpu="${i}",uuid="${d.uuid}",name="${d.name}"`;
    lines.push(
      `vram_guard_gpu_memory_used_bytes{${l}} ${d.used}`,
      `vram_guard_gpu_memory_total_bytes{${l}} ${d.total}`,
      `vram_guard_gpu_memory_free_bytes{${l}} ${d.total! - d.used!}`,
    );
    for (const [level, p] of [
      ['warning', 0.8],
      ['critical', 0.9],
      ['emergency', 0.95],
    ] as const)
      lines.push(`vram_guard_gpu_threshold_bytes{${l},level="${level}"} ${Math.round(d.total! * p)}`);
  });
  return `${lines.join('\n')}\n`;
}

const fleet = () => [
  ...hostsFromSamples(parsePromText(labPage()), { defaultInstance: 'gpu-lab:9835', source: 't', ours: DEFAULT_THRESHOLDS }),
  ...hostsFromSamples(parsePromText(renderDcgm(DGX_A100)), { defaultInstance: 'dgx-a100:9400', source: 't', ours: DEFAULT_THRESHOLDS }),
];

test('20 GiB with a 1 GiB margin: ranked by room after the need, with the verdicts a user expects', () => {
  const places = rankFleet(fleet(), 20 * GiB, { kind: 'bytes', bytes: GiB });
  assert.deepEqual(
    places.map((p) => [`${p.host}/${p.gpu}`, p.verdict]),
    [
      ['dgx-a100/1', 'fits'], // 80301 MiB free
      ['dgx-a100/0', 'fits'], // 41200 MiB free
      ['gpu-lab/1', 'tight'], // 22528 MiB free, but 2048 + 20480 MiB is past 90 % of 24 GiB
      ['gpu-lab/0', 'no room'], // 2384 MiB free
    ],
  );
  assert.equal(places[0]!.roomAfterBytes, (80301 - 20480) * MiB);
  assert.equal(places[2]!.levelAfter, 'critical');
  assert.equal(places[2]!.thresholdsFrom, 'host');
  assert.equal(places[0]!.thresholdsFrom, 'ours');
});

test("a margin in percent is taken of each GPU's own total; a stale host comes last whatever its room", () => {
  const hosts = fleet();
  hosts.find((h) => h.name === 'dgx-a100')!.stale = { since: 1_000 };
  const places = rankFleet(hosts, 1 * GiB, { kind: 'percent', percent: 10 });
  assert.deepEqual(
    places.map((p) => `${p.host}/${p.gpu}:${p.verdict}`),
    ['gpu-lab/1:fits', 'gpu-lab/0:tight', 'dgx-a100/1:stale', 'dgx-a100/0:stale'],
  );
  assert.equal(places[0]!.marginBytes, Math.round(0.1 * 24 * GiB));
  assert.equal(places[2]!.staleSince, 1_000);
});
