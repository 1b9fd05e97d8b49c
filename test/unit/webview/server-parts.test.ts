/**
 * A server card's memory by part: the estimate, what llama.cpp printed, and NVML's measured total.
 * The printed figures are those of a published load (test/fixtures/estimate-truth/qwen3-4b-q4km-server-8k.json).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerCard } from '../../../src/protocol.ts';
import { partsView, serverCardView } from '../../../webview/panels-model.ts';

const NOW = new Date(2026, 11, 7, 18, 0, 0).getTime();
const card = (over: Partial<ServerCard>): ServerCard => ({
  name: 'qwen',
  kind: 'llama-server',
  state: 'ready',
  pid: 4242,
  gpu: 0,
  health: 'healthy',
  models: [],
  context: null,
  sleeping: null,
  nvmlMiB: 3900,
  reportedMiB: null,
  error: null,
  ...over,
});

describe("a server card's memory by part", () => {
  it('shows per part the estimate and the printed size, then the totals with the measured figure', () => {
    const v = partsView(
      card({
        parts: {
          rows: [
            { part: 'weights', estimateMiB: 2400, printedMiB: 2376 },
            { part: 'KV cache', estimateMiB: 1152, printedMiB: 1152 },
            { part: 'compute buffer', estimateMiB: 90, printedMiB: 85 },
            { part: 'CUDA context', estimateMiB: 256, printedMiB: null },
          ],
          printedAt: new Date(NOW - 60_000).toISOString(),
        },
      }),
      NOW,
    );
    assert.equal(v?.caption, "Memory by part (llama.cpp's own report at 17:59:00)");
    assert.deepEqual(v?.rows.at(-1), { part: 'total', estimate: '3898 MiB', printed: '3613 MiB', measured: '3900 MiB' });
    assert.deepEqual(v?.rows[3], { part: 'CUDA context', estimate: '256 MiB', printed: '—', measured: '' });
  });

  it('without a load report says how to get one; without parts there is no table', () => {
    const v = partsView(card({ parts: { rows: [{ part: 'weights', estimateMiB: 2400, printedMiB: null }], printedAt: null } }), NOW);
    assert.match(v?.caption ?? '', /"loadReport": true/);
    assert.equal(serverCardView(card({}), NOW).parts, null);
    const ollama = partsView(card({ kind: 'ollama', parts: { rows: [{ part: 'weights', estimateMiB: 1918, printedMiB: null }], printedAt: null } }), NOW);
    assert.equal(ollama?.caption, 'Memory by part (estimate)');
  });
});
