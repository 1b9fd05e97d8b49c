/**
 * What the status bar item shows, computed from the watcher's state. Pure: no VS Code here, so the
 * text, tooltip and colour are tested in plain Node.
 */
import { NOT_ANSWERING } from '../../core/gpu/not-answering.ts';
import type { GpuDevice } from '../../core/gpu/types.ts';
import { deviceStateLabel, samplesMarkdown, pickDevice, type ProcessKinds } from '../../core/report/gpu-summary.ts';
import { formatGiBFigure } from '../../core/units.ts';
import type { Level } from '../../core/watch/levels.ts';
import type { SourceStatus, WatchedSample } from '../../core/watch/watcher.ts';

export interface StatusView {
  text: string;
  tooltip: string;
  /** Theme colour id for the background, or null for the default. */
  background: 'statusBarItem.warningBackground' | 'statusBarItem.errorBackground' | null;
  visible: boolean;
  level: Level | null;
}

export interface StatusViewInput {
  status: SourceStatus;
  latest: WatchedSample | null;
  gpu: 'worst' | number;
  hideWhenNoGpu: boolean;
  /** "fleet: 3 hosts, 7 GPUs, 1 CRITICAL" when a fleet is configured. */
  fleetLine?: string | null;
  /** Each GPU judged over time: "GPU 0: steady for 10 h 50 min — not a leak". */
  trendLines?: readonly string[];
  /** What each GPU process is, from /proc ("ollama runner · :11434"), by PID. */
  processKinds?: ProcessKinds;
}

const BACKGROUND: Record<Level, StatusView['background']> = {
  ok: null,
  warning: null,
  critical: 'statusBarItem.warningBackground',
  emergency: 'statusBarItem.errorBackground',
};

const ICON: Record<Level, string> = { ok: '$(chip)', warning: '$(warning)', critical: '$(chip)', emergency: '$(flame)' };

export function statusView(input: StatusViewInput): StatusView {
  const { status, latest } = input;
  if (status.state === 'none') {
    return {
      text: '$(chip) no GPU',
      tooltip: `**VRAM Guard: no GPU to watch**\n\n${status.reason}\n\nSet \`vramGuard.nvmlLibraryPath\` or \`vramGuard.source\` if the GPU is there.${input.fleetLine ? `\n\n${input.fleetLine}` : ''}`,
      background: null,
      visible: !input.hideWhenNoGpu,
      level: null,
    };
  }
  if (status.state === 'probing' || !latest) {
    return { text: '$(loading~spin) VRAM', tooltip: 'VRAM Guard: looking for a GPU…', background: null, visible: true, level: null };
  }
  const source = status.source;
  const simulated = source.kind === 'replay' ? '**Simulated GPU** — replaying a recorded trace, not a real GPU.\n\n' : '';
  const fleet = input.fleetLine ? `${input.fleetLine}\n\n` : '';
  const footer = `\n\n---\n\n${simulated}Source: ${source.description}\n\n${fleet}Click to open the dashboard.`;
  const i = pickDevice(latest, input.gpu);
  const device = i === null ? undefined : latest.sample.devices[i];
  if (i === null || !device) {
    return {
      text: '$(chip) no GPU',
      tooltip: `**VRAM Guard**: the source reports no GPUs.${footer}`,
      background: null,
      visible: !input.hideWhenNoGpu,
      level: null,
    };
  }
  const trends = input.trendLines?.length ? `\n\n${input.trendLines.join('\n\n')}` : '';
  const tooltip = `${samplesMarkdown(latest, 5, input.processKinds)}${trends}${footer}`;
  if (!device.memory) {
    const { icon, background } = deviceStateLook(device);
    const label = deviceStateLabel(device).replace(/^error /, '');
    return { text: `${icon} GPU ${device.index} ${label}`, tooltip, background, visible: true, level: null };
  }
  const level = latest.levels[i] ?? 'ok';
  const prefix = source.kind === 'replay' ? `${ICON[level]} sim ` : `${ICON[level]} `;
  return {
    text: `${prefix}${formatGiBFigure(device.memory.used)}/${formatGiBFigure(device.memory.total)} GiB`,
    tooltip,
    background: BACKGROUND[level],
    visible: true,
    level,
  };
}

/** A GPU without memory figures: a driver that is not answering warns, figures that are not supported are no alarm, the rest is an error. */
function deviceStateLook(device: GpuDevice): { icon: string; background: StatusView['background'] } {
  switch (device.error?.code) {
    case NOT_ANSWERING:
      return { icon: '$(watch)', background: 'statusBarItem.warningBackground' };
    case 'NOT_SUPPORTED':
      return { icon: '$(circle-slash)', background: null };
    default:
      return { icon: '$(error)', background: 'statusBarItem.errorBackground' };
  }
}
