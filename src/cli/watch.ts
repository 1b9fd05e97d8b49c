/** `vram-guard watch`: a line per sample and a line per level change, until interrupted. */
import { deviceStateLabel } from '../core/report/gpu-summary.ts';
import { formatMiB, percentOf } from '../core/units.ts';
import { levelLabel } from '../core/watch/levels.ts';
import { parseCommand, stringFlag, UsageError } from './args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions, cliWatcher } from './gpu-options.ts';
import type { CliIo } from './io.ts';
import { sampleJson } from './sample-json.ts';

export const WATCH_HELP = `vram-guard watch [--interval MS] [--json] [options]

Samples until interrupted (Ctrl-C): one line per sample, one per level change (JSON lines with --json).
The rate adapts: faster near a threshold, slower when calm, unless --fixed-rate is given.

  --interval MS                   sampling interval in milliseconds (default 1000)
  --fixed-rate                    always sample at --interval
  --json                          print JSON lines
${GPU_OPTIONS_HELP}`;

export async function runWatchCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(args, { booleans: ['json', 'fixed-rate'], values: [...GPU_VALUE_FLAGS, 'interval'], help: WATCH_HELP }, io);
  if (!parsed) return 0;
  const intervalText = stringFlag(parsed, 'interval') ?? '1000';
  const intervalMs = Number(intervalText);
  if (!Number.isFinite(intervalMs) || intervalMs < 50) throw new UsageError(`--interval must be a number of milliseconds, at least 50 (got "${intervalText}")`);
  const options = gpuOptions(parsed, io.env);
  const json = parsed.flags.has('json');
  const watcher = cliWatcher(options, intervalMs, parsed.flags.has('fixed-rate'));
  let noSource = false;
  watcher.on('status', (s) => {
    if (s.state === 'none') {
      noSource = true;
      io.stderr(`vram-guard: no GPU source available: ${s.reason}\n`);
      if (json) io.stdout(`${JSON.stringify({ type: 'no-source', reason: s.reason })}\n`);
    } else if (s.state === 'ready') {
      noSource = false;
      if (!json) io.stdout(`watching ${s.source.description}\n`);
    }
  });
  watcher.on('sample', ({ sample, levels }) => {
    if (json) {
      io.stdout(`${JSON.stringify({ type: 'sample', timestamp: sample.timestamp, ...sampleJson(sample, levels) })}\n`);
      return;
    }
    const parts = sample.devices.map((d, i) =>
      d.memory
        ? `GPU ${d.index} ${formatMiB(d.memory.used)}/${formatMiB(d.memory.total)} ${percentOf(d.memory.used, d.memory.total).toFixed(1)}% ${levelLabel(levels[i] ?? 'ok')}`
        : `GPU ${d.index} ${deviceStateLabel(d).toUpperCase()}`,
    );
    io.stdout(`${new Date(sample.timestamp).toISOString()}  ${parts.join('  |  ')}\n`);
  });
  watcher.on('transition', (t) => {
    if (json) io.stdout(`${JSON.stringify({ type: 'transition', ...t })}\n`);
    else io.stdout(`${new Date(t.timestamp).toISOString()}  GPU ${t.gpu}: ${levelLabel(t.from)} -> ${levelLabel(t.to)} at ${formatMiB(t.usedBytes)}\n`);
  });
  watcher.start();
  await io.interrupted;
  await watcher.stop();
  return noSource && !watcher.latest ? 2 : 0;
}
