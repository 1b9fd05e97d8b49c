/**
 * A CUDA-error cascade in a server's output is an event in the history: replayed at field note
 * 001's rate (40–50 errors a second) on a fake clock, it becomes one "cascade" marker naming the
 * process, the GPU's level and its VRAM then, and an export and import keep it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Emitter } from '../../../src/core/events.ts';
import { historySampleOf } from '../../../src/core/history/events.ts';
import { exportRecords, importHistory } from '../../../src/core/history/io.ts';
import { recordHistory } from '../../../src/core/history/recorder.ts';
import { HistoryStore } from '../../../src/core/history/store.ts';
import type { HistoryRecord } from '../../../src/core/history/types.ts';
import { cascadeLine } from '../../../src/core/report/one-line.ts';
import { CascadeWatch } from '../../../src/core/servers/cascade-watch.ts';
import { ServerRegistry } from '../../../src/core/servers/server-registry.ts';
import { MiB } from '../../../src/core/units.ts';
import type { LevelTransition } from '../../../src/core/watch/classifier.ts';
import { markerOf } from '../../../src/vscode/dashboard/dashboard-data.ts';
import { markersInView } from '../../../webview/chart-model.ts';
import type { WatchedSample } from '../../../src/core/watch/watcher.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { oneGpuSample } from '../../helpers/watched-sample.ts';

const GiB = 1024 * MiB;
// Field note 001: a 4 GB RTX A1000 at 91 % when the speech daemon's cascade began.
const USED = Math.round(0.91 * 4 * GiB);

const watched = (t: number) => oneGpuSample({ time: t, name: 'NVIDIA RTX A1000 Laptop GPU', totalBytes: 4 * GiB, usedBytes: USED, level: 'critical' });

describe('a cascade in the history', () => {
  it('is one marker with the process, the level and the VRAM, and survives an export and import', async () => {
    const clock = new FakeClock(1_800_000_000_000);
    const store = new HistoryStore({ dir: null, clock });
    const watcher = new Emitter<{ sample: [WatchedSample]; transition: [LevelTransition] }>();
    const registry = new ServerRegistry();
    const stop = recordHistory({ store, watcher, registry, clock, readSystem: async () => null });
    watcher.emit('sample', watched(clock.now()));

    const watch = new CascadeWatch({
      now: () => clock.now(),
      onCascade: (cascade, last) => registry.reportCascade({ server: 'nemo-asr', kind: 'faster-whisper', pid: 4242, gpu: 0, cascade, last }),
    });
    // 45 error lines a second (the field note's 40–50) for 10 s: one cascade, not one per second.
    for (let ms = 0; ms < 10_000; ms += 1000 / 45) {
      await clock.advance(1000 / 45);
      watch.push('CUDA error: unspecified launch failure\n', 'stderr');
    }
    stop();

    const cascades = store.events().filter((e) => e.kind === 'cascade');
    assert.equal(cascades.length, 1);
    const e = cascades[0]!;
    assert.equal(e.gpu, 0);
    assert.equal(e.level, 'critical');
    assert.equal(e.usedBefore, USED);
    assert.match(e.text, /^nemo-asr \(PID 4242\): cascade, \d+ CUDA error lines, 4\d a second · GPU 0 CRITICAL at 3727 MiB of 4096 MiB$/);
    // Declared at the end of the third second above the rate.
    assert.ok(e.t - 1_800_000_000_000 <= 3000, `declared after ${e.t - 1_800_000_000_000} ms`);

    // On the dashboard's chart: a "cascade" marker with that text.
    const views = markersInView([markerOf(e)], 0, e.t - 1000, e.t + 1000, e.t);
    assert.equal(views.length, 1);
    assert.equal(views[0]!.kind, 'cascade');
    assert.equal(views[0]!.label, 'cascade');
    assert.match(views[0]!.detail, /nemo-asr \(PID 4242\): cascade/);

    // Exported and imported, as JSON Lines and as CSV, it is still a cascade.
    for (const format of ['jsonl', 'csv'] as const) {
      let text = '';
      await exportRecords(
        [[{ type: 'sample', sample: historySampleOf(watched(e.t - 1000).sample, null) }, { type: 'event', event: e } satisfies HistoryRecord]],
        format,
        'field note 001',
        async (c) => {
          text += c;
        },
      );
      const back = importHistory(text, `h.${format}`);
      assert.deepEqual(back.skipped, [], format);
      const again = back.records.find((r) => r.type === 'event');
      assert.equal(again?.type === 'event' && again.event.kind, 'cascade', format);
      assert.equal(again?.type === 'event' && again.event.text, e.text, format);
    }
  });

  it('is told in one line: the process, the rate, the level and the VRAM', () => {
    const line = cascadeLine({ server: 'nemo-asr', pid: 4242, gpu: 0, cascade: { perSecond: 45.2 } }, { level: 'critical', used: USED, total: 4 * GiB });
    assert.equal(line, 'CUDA-error cascade in "nemo-asr" (PID 4242): 45 errors a second; GPU 0 at CRITICAL, 3.6 GiB of 4.0 GiB used (91%).');
    assert.equal(
      cascadeLine({ server: 'x', pid: null, gpu: 1, cascade: { perSecond: 6 } }, null),
      'CUDA-error cascade in "x" (PID ?): 6 errors a second; GPU 1 not read.',
    );
  });
});
