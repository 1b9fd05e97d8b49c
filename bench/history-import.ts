/**
 * History import, measured: a million records of JSON Lines (999,000 samples and 1,000 events, about
 * 70 MB) streamed from a file into the dashboard's store, as the import command does, with a
 * timer-lag probe beside it: the rate, and the longest time the event loop could not run.
 *
 *   node bench/history-import.ts     (also part of npm run bench)
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiB } from '../src/core/units.ts';
import { importHistoryStream } from '../src/core/history/io.ts';
import { encodeEvent, encodeSample } from '../src/core/history/lines.ts';
import { EventLoopLag } from '../test/helpers/event-loop-lag.ts';
import type { BenchRow } from './dashboard.ts';

const RECORDS = 1_000_000;
const T0 = Date.parse('2026-03-02T09:00:00Z');

export interface ImportFigures {
  records: number;
  megabytes: number;
  seconds: number;
  recordsPerSecond: number;
  longestPauseCpuMs: number;
  longestPauseWallMs: number;
}

export async function measureHistoryImport(): Promise<{ rows: BenchRow[]; figures: ImportFigures }> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-bench-import-'));
  try {
    const path = join(dir, 'million.jsonl');
    const out = createWriteStream(path);
    for (let i = 0; i < RECORDS; i += 10_000) {
      const lines: string[] = [];
      for (let j = i; j < i + 10_000; j++) {
        lines.push(
          j % 1000 === 999
            ? encodeEvent({ t: T0 + j * 1000, kind: 'note', gpu: null, text: `event ${j}`, level: null, usedBefore: null, usedAfter: null })
            : encodeSample({ t: T0 + j * 1000, gpus: [{ gpu: 0, used: (3000 + (j % 4000)) * MiB, total: 8192 * MiB }], system: null }),
        );
      }
      if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'close');
    const megabytes = (await stat(path)).size / 1e6;
    const lag = new EventLoopLag(5);
    const t0 = performance.now();
    const imported = await importHistoryStream(createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 }), 'million.jsonl');
    const seconds = (performance.now() - t0) / 1000;
    const pause = lag.stop();
    const figures: ImportFigures = {
      records: imported.records,
      megabytes,
      seconds,
      recordsPerSecond: imported.records / seconds,
      longestPauseCpuMs: pause.cpuMs,
      longestPauseWallMs: pause.wallMs,
    };
    return {
      figures,
      rows: [
        {
          measure: `history import (${(RECORDS / 1e6).toFixed(0)} M records, ${megabytes.toFixed(0)} MB JSON Lines)`,
          value: `${Math.round(figures.recordsPerSecond).toLocaleString('en-US')} records/s, ${seconds.toFixed(1)} s`,
          target: '',
          ok: true,
        },
        {
          measure: 'longest event-loop pause during the import',
          value: `${pause.cpuMs.toFixed(1)} ms of CPU (wall ${pause.wallMs.toFixed(1)} ms)`,
          target: '≤ 50 ms',
          ok: pause.cpuMs <= 50,
        },
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows } = await measureHistoryImport();
  for (const r of rows) console.log(`${r.measure}  ${r.value}  ${r.target}${r.target ? (r.ok ? '  met' : '  MISSED') : ''}`);
}
