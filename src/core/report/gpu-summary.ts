/**
 * Words and tables about GPUs, shared by the status bar tooltip, the details view and the CLI.
 */
import { IMPLAUSIBLE_READING } from '../gpu/memory-plausibility.ts';
import { clockTime, NOT_ANSWERING } from '../gpu/not-answering.ts';
import type { GpuDevice, GpuProcess } from '../gpu/types.ts';
import { formatMiB, percentOf } from '../units.ts';
import { levelLabel, levelRank, type Level } from '../watch/levels.ts';
import type { ResolvedThresholds } from '../watch/thresholds.ts';
import type { WatchedSample } from '../watch/watcher.ts';
import { escapeMarkdown } from './markdown.ts';

/** The GPU to show: the chosen index if it exists, else the one at the worst level (then the fullest). */
export function pickDevice(watched: WatchedSample, choice: 'worst' | number): number | null {
  const devices = watched.sample.devices;
  if (devices.length === 0) return null;
  if (typeof choice === 'number') {
    const i = devices.findIndex((d) => d.index === choice);
    if (i >= 0) return i;
  }
  let best = 0;
  const fills = devices.map((d) => (d.memory ? percentOf(d.memory.used, d.memory.total) : -1));
  for (let i = 1; i < devices.length; i++) {
    const a = levelRank(watched.levels[i] ?? 'ok');
    const b = levelRank(watched.levels[best] ?? 'ok');
    if (a > b || (a === b && (fills[i] ?? -1) > (fills[best] ?? -1))) best = i;
  }
  return best;
}

export function topProcesses(device: GpuDevice, count: number): GpuProcess[] {
  return [...device.processes].sort((a, b) => (b.usedBytes ?? -1) - (a.usedBytes ?? -1)).slice(0, count);
}

/** "ollama (PID 4242)", with what the process is when known: "ollama (PID 4242) — ollama runner · :11434". */
export function processLabel(p: GpuProcess, what?: string): string {
  const name = p.name ? p.name.split('/').pop() || p.name : 'unknown';
  return `${name} (PID ${p.pid})${what ? ` — ${what}` : ''}`;
}

/** What each process is (by PID), in a few words, when /proc was read. */
export type ProcessKinds = ReadonlyMap<number, string>;

export function processMemory(p: GpuProcess): string {
  return p.usedBytes === null ? 'N/A' : formatMiB(p.usedBytes);
}

function vitals(d: GpuDevice): string {
  const parts: string[] = [];
  if (d.utilization.gpu !== null) parts.push(`util ${d.utilization.gpu}%`);
  if (d.temperatureC !== null) parts.push(`${d.temperatureC} °C`);
  if (d.powerW !== null) parts.push(`${d.powerW.toFixed(1)} W`);
  if (d.persistenceMode !== null) parts.push(`persistence ${d.persistenceMode ? 'on' : 'off'}`);
  return parts.join(' · ');
}

/**
 * What a GPU without memory figures is in, in a few words: "not answering since 21:50:03",
 * "implausible reading", "memory not supported", or "error GPU_IS_LOST".
 */
export function deviceStateLabel(d: GpuDevice): string {
  const e = d.error;
  if (!e) return 'no memory figures';
  if (e.code === NOT_ANSWERING) return e.since === undefined ? 'not answering' : `not answering since ${clockTime(e.since)}`;
  if (e.code === IMPLAUSIBLE_READING) return 'implausible reading';
  if (e.code === 'NOT_SUPPORTED' && !d.memory) return 'memory not supported';
  return `error ${e.code}`;
}

/** A few lines per GPU: figures, level, thresholds and the top processes. */
export function deviceMarkdown(d: GpuDevice, level: Level, t: ResolvedThresholds | null, processCount: number, kinds?: ProcessKinds): string {
  const title = `**GPU ${d.index} · ${escapeMarkdown(d.name ?? 'unknown GPU')}**`;
  if (d.error) return `${title} — ${deviceStateLabel(d)}\n\n${escapeMarkdown(d.error.message)}`;
  if (!d.memory) return `${title} — no memory figures`;
  const m = d.memory;
  const lines = [
    `${title} — ${levelLabel(level)}`,
    '',
    `${formatMiB(m.used)} of ${formatMiB(m.total)} used (${percentOf(m.used, m.total).toFixed(1)}%) · ${formatMiB(m.free)} free` +
      (m.reserved === null ? '' : ` · ${formatMiB(m.reserved)} reserved`),
  ];
  const v = vitals(d);
  if (v) lines.push('', v);
  if (t) lines.push('', `WARNING ${formatMiB(t.warning)} · CRITICAL ${formatMiB(t.critical)} · EMERGENCY ${formatMiB(t.emergency)}`);
  const top = topProcesses(d, processCount);
  if (top.length) {
    lines.push('', '| Process | VRAM |', '|---|---:|');
    for (const p of top) lines.push(`| ${escapeMarkdown(processLabel(p, kinds?.get(p.pid)))} | ${processMemory(p)} |`);
    if (d.processes.length > top.length) lines.push('', `…and ${d.processes.length - top.length} more`);
  } else {
    lines.push('', 'No processes hold memory on this GPU.');
  }
  return lines.join('\n');
}

export function samplesMarkdown(watched: WatchedSample, processCount: number, kinds?: ProcessKinds): string {
  return watched.sample.devices
    .map((d, i) => deviceMarkdown(d, watched.levels[i] ?? 'ok', watched.thresholds[i] ?? null, processCount, kinds))
    .join('\n\n---\n\n');
}
