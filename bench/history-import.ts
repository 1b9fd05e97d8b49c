/**
 * History import, measured: a million records of JSON Lines (999,000 samples and 1,000 events, about
 * 70 MB) streamed from a file into the dashboard's store, as the import command does, with a
 * timer-lag probe beside it: the rate, and the longest time the event loop could not run. Then a
 * million events into the dashboard (the events list is cut back in steps, not once per event), and
 * the same million records through `vram-guard history import` into a history folder (the rate, and
 * the most heap it used above the start: the import streams, so this stays flat whatever the size).
 *
 *   node bench/history-import.ts     (also part of npm run bench)
 */
import { spawn } from 'node:child_process';
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
  /** A million events into the dashboard. */
  eventsSeconds: number;
  eventsLongestPauseCpuMs: number;
  /** The same million records through the CLI into a history folder, in a child with a capped heap. */
  cliSeconds: number;
  cliRecordsWritten: number;
  cliMaxRssMiB: number;
}

/** Writes `count` lines made by `line(i)` to `path`, 10,000 at a time. */
async function writeLines(path: string, count: number, line: (i: number) => string): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < count; i += 10_000) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(count, i + 10_000); j++) lines.push(line(j));
    if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

/** The heap a child process running the CLI's import may use: a reader that held the file could not finish in it. */
const CLI_HEAP_MIB = 48;

/**
 * `vram-guard history import` in a child process whose heap is capped at CLI_HEAP_MIB: its output,
 * exit code and peak resident memory (the child's own getrusage).
 */
async function cliImport(args: string[]): Promise<{ code: number | null; output: string; maxRssMiB: number }> {
  const script = `
    const { runHistoryCommand } = await import(${JSON.stringify(new URL('../src/cli/history.ts', import.meta.url).href)});
    let said = '';
    const io = { stdout: (t) => (said += t), stderr: (t) => (said += t), env: {}, interrupted: new Promise(() => {}) };
    const code = await runHistoryCommand(${JSON.stringify(args)}, io);
    process.stdout.write(JSON.stringify({ code, said, maxRssKiB: process.resourceUsage().maxRSS }));`;
  const child = spawn(process.execPath, [`--max-old-space-size=${CLI_HEAP_MIB}`, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) return { code, output: `${out}${err}`.slice(-2000), maxRssMiB: Number.NaN };
  const r = JSON.parse(out) as { code: number; said: string; maxRssKiB: number };
  return { code: r.code, output: r.said, maxRssMiB: r.maxRssKiB / 1024 };
}

export async function measureHistoryImport(): Promise<{ rows: BenchRow[]; figures: ImportFigures }> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-bench-import-'));
  try {
    const path = join(dir, 'million.jsonl');
    await writeLines(path, RECORDS, (j) =>
      j % 1000 === 999
        ? encodeEvent({ t: T0 + j * 1000, kind: 'note', gpu: null, text: `event ${j}`, level: null, usedBefore: null, usedAfter: null })
        : encodeSample({ t: T0 + j * 1000, gpus: [{ gpu: 0, used: (3000 + (j % 4000)) * MiB, total: 8192 * MiB }], system: null }),
    );
    const megabytes = (await stat(path)).size / 1e6;
    const lag = new EventLoopLag(5);
    const t0 = performance.now();
    const imported = await importHistoryStream(createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 }), 'million.jsonl');
    const seconds = (performance.now() - t0) / 1000;
    const pause = lag.stop();

    const eventsPath = join(dir, 'million-events.jsonl');
    const t1 = Date.now() - 3_600_000;
    await writeLines(eventsPath, RECORDS, (j) =>
      j === 0
        ? encodeSample({ t: t1, gpus: [{ gpu: 0, used: 3000 * MiB, total: 8192 * MiB }], system: null })
        : encodeEvent({ t: t1 + j, kind: 'note', gpu: null, text: `event ${j}`, level: null, usedBefore: null, usedAfter: null }),
    );
    const eventsLag = new EventLoopLag(5);
    const e0 = performance.now();
    await importHistoryStream(createReadStream(eventsPath, { encoding: 'utf8', highWaterMark: 256 * 1024 }), 'million-events.jsonl');
    const eventsSeconds = (performance.now() - e0) / 1000;
    const eventsPause = eventsLag.stop();

    // The CLI keeps what lies within its retention: the million records, moved to the last 12 days.
    const cliPath = join(dir, 'million-recent.jsonl');
    const t2 = Date.now() - RECORDS * 1000;
    await writeLines(cliPath, RECORDS, (j) =>
      encodeSample({ t: t2 + j * 1000, gpus: [{ gpu: 0, used: (3000 + (j % 4000)) * MiB, total: 8192 * MiB }], system: null }),
    );
    const c0 = performance.now();
    const cli = await cliImport(['import', cliPath, '--dir', join(dir, 'history'), '--retention-days', '14']);
    const cliSeconds = (performance.now() - c0) / 1000;
    if (cli.code !== 0) throw new Error(`the CLI import failed (exit ${cli.code}): ${cli.output}`);
    const cliRecordsWritten = Number(/imported (\d+) of/.exec(cli.output)?.[1] ?? 0);

    const figures: ImportFigures = {
      records: imported.records,
      megabytes,
      seconds,
      recordsPerSecond: imported.records / seconds,
      longestPauseCpuMs: pause.cpuMs,
      longestPauseWallMs: pause.wallMs,
      eventsSeconds,
      eventsLongestPauseCpuMs: eventsPause.cpuMs,
      cliSeconds,
      cliRecordsWritten,
      cliMaxRssMiB: cli.maxRssMiB,
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
        {
          measure: 'history import of 1 M events into the dashboard (the last 100,000 kept)',
          value: `${eventsSeconds.toFixed(1)} s, longest pause ${eventsPause.cpuMs.toFixed(1)} ms of CPU`,
          target: '≤ 50 ms',
          ok: eventsPause.cpuMs <= 50,
        },
        {
          measure: 'vram-guard history import of 1 M records into a history folder',
          value: `${Math.round(RECORDS / cliSeconds).toLocaleString('en-US')} records/s, ${cliSeconds.toFixed(1)} s, ${cliRecordsWritten.toLocaleString('en-US')} written, peak RSS ${cli.maxRssMiB.toFixed(0)} MiB (heap capped at ${CLI_HEAP_MIB} MiB)`,
          target: 'every record',
          ok: cliRecordsWritten === RECORDS,
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
