/** `vram-guard status`: one sample of every GPU, as text or JSON. */
import { deviceStateLabel, processLabel, processMemory, topProcesses } from '../core/report/gpu-summary.ts';
import { formatMiB, percentOf } from '../core/units.ts';
import { rawLevel } from '../core/watch/classifier.ts';
import { levelLabel, type Level } from '../core/watch/levels.ts';
import { resolveThresholds } from '../core/watch/thresholds.ts';
import type { GpuSample } from '../core/gpu/types.ts';
import { parseCommand } from './args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions, withOneSample } from './gpu-options.ts';
import type { CliIo } from './io.ts';
import { sampleJson } from './sample-json.ts';

export const STATUS_HELP = `vram-guard status [--json] [options]

One sample of every GPU: memory, utilisation, temperature, power, level and processes.
Exit 0 when sampled; 2 when no GPU source is available (the reason on stderr).

  --json                          print JSON instead of text
${GPU_OPTIONS_HELP}`;

export async function runStatusCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(args, { booleans: ['json'], values: GPU_VALUE_FLAGS, help: STATUS_HELP }, io);
  if (!parsed) return 0;
  const options = gpuOptions(parsed, io.env);
  return withOneSample(options, io, async (sample, source) => {
    const levels = sample.devices.map((d) =>
      d.memory ? rawLevel(d.memory.used, resolveThresholds(options.thresholds, d.memory.total, '--thresholds').thresholds) : null,
    );
    io.stdout(parsed.flags.has('json') ? `${JSON.stringify(sampleJson(sample, levels), null, 2)}\n` : statusText(sample, levels, source.description));
    return 0;
  });
}

export function statusText(sample: GpuSample, levels: ReadonlyArray<Level | null>, description: string): string {
  const lines = [description];
  if (sample.devices.length === 0) lines.push('No GPUs.');
  sample.devices.forEach((d, i) => {
    const head = `GPU ${d.index}  ${d.name ?? 'unknown'}`;
    if (!d.memory) {
      lines.push(`${head}  ${deviceStateLabel(d).toUpperCase()}: ${d.error?.message ?? 'no memory figures'}`);
      return;
    }
    const m = d.memory;
    const extras = [
      d.utilization.gpu === null ? null : `util ${d.utilization.gpu}%`,
      d.temperatureC === null ? null : `${d.temperatureC} °C`,
      d.powerW === null ? null : `${d.powerW.toFixed(1)} W`,
    ].filter(Boolean);
    lines.push(
      `${head}  ${formatMiB(m.used)} / ${formatMiB(m.total)} (${percentOf(m.used, m.total).toFixed(1)}%)  ${levelLabel(levels[i] ?? 'ok')}  ${extras.join('  ')}`,
    );
    if (d.error) lines.push(`  warning: ${d.error.code}: ${d.error.message}`);
    for (const p of topProcesses(d, Number.POSITIVE_INFINITY)) lines.push(`  ${processMemory(p).padStart(10)}  ${processLabel(p)}`);
  });
  return `${lines.join('\n')}\n`;
}
