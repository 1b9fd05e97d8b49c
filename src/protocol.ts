/**
 * The dashboard's messages, shared by the extension host (src/vscode/dashboard/dashboard-panel.ts) and the page
 * (webview/main.ts). Three kinds, each keyed by `type`:
 *  - commands, page → host: do something (run a fallback step, export...); no reply;
 *  - requests, page → host: ask for data; the host answers with a `reply` carrying the same `id`;
 *  - notifications, host → page: the first full picture (`init`), then small updates.
 * The host checks every message with `parseWebviewMessage`: the page can only name the commands
 * listed here, with arguments of the right type; it can never name a VS Code command or a process.
 * Sizes are MiB (one decimal) and times milliseconds since the epoch, to keep updates small.
 * Plain data only: no vscode import, so the page bundles it too.
 */
import type { GpuTrend } from './core/trend/trend-view.ts';
import type { Level } from './core/watch/levels.ts';

/** A GPU judged over time (src/core/trend): the verdict in words, and markers for its steps and where a leak starts. */
export type { GpuTrend };

export const RANGES = ['5m', '1h', '24h', 'all'] as const;
export type RangeName = (typeof RANGES)[number];
export const RANGE_MS: Record<RangeName, number> = { '5m': 5 * 60_000, '1h': 3_600_000, '24h': 86_400_000, all: Infinity };

// ---- data shapes ----

export interface Thresholds {
  warning: number;
  critical: number;
  emergency: number;
}

export interface GpuInfo {
  gpu: number;
  name: string | null;
  totalMiB: number;
  /** MiB; null when unknown (an imported log is drawn with the current settings' percentages). */
  thresholds: Thresholds | null;
  level: Level | null;
}

export interface SeriesData {
  t: number[];
  /** MiB. */
  v: number[];
}

export interface RangeData {
  from: number;
  to: number;
  gpus: Array<{ gpu: number } & SeriesData>;
  ram: SeriesData;
  swap: SeriesData;
  ramTotalMiB: number | null;
  swapTotalMiB: number | null;
}

/** `step` and `leak`: found by the trend analysis (a load step, where a leak starts), not recorded events. */
export type MarkerKind = 'transition' | 'fallback' | 'task' | 'spike' | 'note' | 'cascade' | 'step' | 'leak';

export interface Marker {
  t: number;
  kind: MarkerKind;
  gpu: number | null;
  text: string;
  level: Level | null;
  beforeMiB: number | null;
  afterMiB: number | null;
}

export interface ProcessRow {
  pid: number;
  name: string;
  /** The task or server it belongs to; null for other processes. */
  owner: string | null;
  vramMiB: number | null;
  /** Percent of the GPU's used memory. */
  share: number | null;
}

export interface ProcessTable {
  gpu: number;
  usedMiB: number | null;
  rows: ProcessRow[];
  residualMiB: number | null;
  residualHint: string | null;
}

export interface ServerCard {
  name: string;
  kind: string;
  state: string;
  pid: number | null;
  gpu: number | null;
  health: 'healthy' | 'unhealthy' | 'unreachable' | 'unknown';
  models: Array<{ name: string; vramMiB: number | null; context: number | null }>;
  context: number | null;
  sleeping: boolean | null;
  /** VRAM by NVML (its process tree) and as the server reports it. */
  nvmlMiB: number | null;
  reportedMiB: number | null;
  error: string | null;
  /** When the running process became ready (ms since the epoch; the page counts the uptime from it); null when not running. */
  readySince?: number | null;
  /** `vramGuard.servers.uptimeTargetHours`. */
  uptimeTargetHours?: number;
  /** Times it was started again (fallback steps, its restart policy), and the policy: "on-failure, at most 10 an hour" or null. */
  restarts?: number;
  restartPolicy?: string | null;
  /** The last exit nobody asked for: when, its code or signal, and the server's last lines. */
  lastExit?: { at: number; code: number | null; signal: string | null; lastLines: string[] } | null;
  /**
   * Its memory part by part on the GPU: the gate's estimate and what llama.cpp printed as it loaded
   * (a `"loadReport": true` task), in MiB, null where there is none; the measured total is `nvmlMiB`.
   */
  parts?: { rows: Array<{ part: string; estimateMiB: number | null; printedMiB: number | null }>; printedAt: string | null } | null;
}

export interface ChainStepView {
  index: number;
  label: string;
  action: string;
  target: string | null;
  trigger: string;
  mode: 'auto' | 'confirm' | 'manual';
  /** Whether the step sets its own mode (the chain's mode does not change it). */
  ownMode: boolean;
}

export interface ChainAction {
  t: number;
  gpu: number;
  step: number;
  label: string;
  origin: 'auto' | 'manual' | 'dry-run';
  result: string;
  message: string;
  beforeMiB: number;
  afterMiB: number | null;
}

export interface ChainView {
  mode: 'auto' | 'confirm' | 'manual';
  busy: boolean;
  steps: ChainStepView[];
  /** Newest first. */
  actions: ChainAction[];
}

/** One step of a dry run on one GPU: what it would do now. Nothing was done. */
export interface DryRunStepView {
  gpu: number;
  level: Level;
  step: number;
  label: string;
  mode: 'auto' | 'confirm' | 'manual';
  /** `would-run` or `would-skip`. */
  result: string;
  message: string;
  usedMiB: number;
  totalMiB: number;
}

/** The fallback chain's plan, as the dashboard's **Dry run** asked for it at `t`. */
export interface DryRunPlan {
  t: number;
  steps: DryRunStepView[];
}

export type ViewMode = { kind: 'live' } | { kind: 'imported'; title: string; format: string };

export interface Snapshot {
  mode: ViewMode;
  /** The GPU source, or why there is none. */
  source: string;
  now: number;
  bounds: { first: number; last: number } | null;
  gpus: GpuInfo[];
  range: RangeName;
  data: RangeData;
  markers: Marker[];
  processes: ProcessTable[];
  servers: ServerCard[];
  chain: ChainView;
  /** The fleet, when `vramGuard.fleet.*` names a source; null or absent otherwise. */
  fleet?: FleetView | null;
  /** Each GPU judged over time; absent before the first judgement. */
  trends?: GpuTrend[];
}

/** A GPU of another host, as the fleet reads it from Prometheus or its exporter. */
export interface FleetGpuView {
  index: number;
  name: string | null;
  usedMiB: number;
  totalMiB: number;
  level: Level;
  thresholds: Thresholds;
  /** Whose thresholds: the host's own exporter's, or this machine's settings. */
  thresholdsFrom: 'host' | 'ours';
  holders: Array<{ label: string; kind: 'task' | 'server' | 'process'; vramMiB: number }>;
  /** Used MiB over the last hour, oldest first; null where there is no data. */
  spark: Array<number | null>;
}

export interface FleetHostView {
  name: string;
  instance: string;
  /** "no data since 14:03:07 (4 min ago)" when its data is old, else null. */
  stale: string | null;
  gpus: FleetGpuView[];
}

export interface FleetView {
  at: number;
  /** "fleet: 3 hosts, 7 GPUs, 1 CRITICAL" */
  line: string;
  hosts: FleetHostView[];
  /** Sources that failed this time, and GPUs left out (implausible figures), with why. */
  errors: Array<{ source: string; error: string }>;
}

/** One sample, as small as it can be: [gpu, used MiB, total MiB, level] per GPU; RAM and swap used MiB. */
export interface SampleUpdate {
  t: number;
  g: Array<[number, number, number, Level]>;
  m: [number, number] | null;
}

// ---- page → host ----

export type WebviewCommand =
  /** The page is loaded (again, after it was hidden): send the whole picture, for this range. */
  | { type: 'ready'; range: RangeName }
  | { type: 'runStep'; step: number; gpu: number }
  | { type: 'dryRun' }
  | { type: 'setAuto'; enabled: boolean }
  | { type: 'preflight' }
  | { type: 'budgetSpike' }
  | { type: 'export'; format: 'csv' | 'jsonl' }
  | { type: 'import' }
  | { type: 'showLive' }
  /** Read the fleet now, without waiting for the next refresh. */
  | { type: 'fleetRefresh' }
  /** "Where does it fit?" over the fleet (the command's quick pick). */
  | { type: 'fleetWhereFits' };

export type WebviewRequest = { type: 'range'; id: number; from: number; to: number; maxPoints: number };

export type WebviewMessage = WebviewCommand | WebviewRequest;

// ---- host → page ----

export type HostMessage =
  | { type: 'init'; snapshot: Snapshot }
  | { type: 'sample'; s: SampleUpdate }
  | { type: 'marker'; marker: Marker }
  | { type: 'processes'; tables: ProcessTable[] }
  | { type: 'servers'; servers: ServerCard[]; chain: ChainView }
  | { type: 'notice'; severity: 'info' | 'warning' | 'error'; text: string }
  | { type: 'fleet'; fleet: FleetView | null }
  | { type: 'trend'; trends: GpuTrend[] }
  /** The answer to the page's `dryRun`: the plan, shown in the fallback chain's panel. */
  | { type: 'dryRunPlan'; plan: DryRunPlan }
  | { type: 'reply'; id: number; ok: true; data: RangeData }
  | { type: 'reply'; id: number; ok: false; error: string };

export const MAX_RANGE_POINTS = 20_000;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isIndex = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) < 1_000_000;
const isTime = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** Checks a message from the page; anything unknown or malformed is refused with the reason. */
export function parseWebviewMessage(raw: unknown): { ok: true; message: WebviewMessage } | { ok: false; error: string } {
  if (!isObject(raw) || typeof raw.type !== 'string') return { ok: false, error: 'not a message object with a "type"' };
  const keys = Object.keys(raw);
  const only = (...allowed: string[]) => keys.every((k) => k === 'type' || allowed.includes(k));
  const bad = (why: string) => ({ ok: false as const, error: `${raw.type}: ${why}` });
  switch (raw.type) {
    case 'ready':
      if (!only('range') || !(RANGES as readonly unknown[]).includes(raw.range ?? '1h')) return bad(`range must be one of ${RANGES.join(', ')}`);
      return { ok: true, message: { type: 'ready', range: (raw.range ?? '1h') as RangeName } };
    case 'dryRun':
    case 'preflight':
    case 'budgetSpike':
    case 'import':
    case 'showLive':
    case 'fleetRefresh':
    case 'fleetWhereFits':
      return only() ? { ok: true, message: { type: raw.type } } : bad('takes no arguments');
    case 'runStep':
      if (!only('step', 'gpu') || !isIndex(raw.step) || !isIndex(raw.gpu)) return bad('needs a step index and a GPU index');
      return { ok: true, message: { type: 'runStep', step: raw.step, gpu: raw.gpu } };
    case 'setAuto':
      if (!only('enabled') || typeof raw.enabled !== 'boolean') return bad('needs "enabled": true or false');
      return { ok: true, message: { type: 'setAuto', enabled: raw.enabled } };
    case 'export':
      if (!only('format') || (raw.format !== 'csv' && raw.format !== 'jsonl')) return bad('format must be "csv" or "jsonl"');
      return { ok: true, message: { type: 'export', format: raw.format } };
    case 'range':
      if (!only('id', 'from', 'to', 'maxPoints') || !isIndex(raw.id) || !isTime(raw.from) || !isTime(raw.to) || !(raw.to >= raw.from))
        return bad('needs an id and a time range');
      if (!Number.isInteger(raw.maxPoints) || (raw.maxPoints as number) < 2 || (raw.maxPoints as number) > MAX_RANGE_POINTS)
        return bad(`maxPoints must be 2 to ${MAX_RANGE_POINTS}`);
      return { ok: true, message: { type: 'range', id: raw.id, from: raw.from, to: raw.to, maxPoints: raw.maxPoints as number } };
    default:
      return { ok: false, error: `unknown message type ${JSON.stringify(raw.type).slice(0, 40)}` };
  }
}

/**
 * The host's door for the page's messages: a valid one is returned; anything else is told to `warn`
 * (the log) as "dashboard: refused a message from the page: …" and yields null, so nothing runs.
 */
export function acceptWebviewMessage(raw: unknown, warn: (line: string) => void): WebviewMessage | null {
  const parsed = parseWebviewMessage(raw);
  if (parsed.ok) return parsed.message;
  warn(`dashboard: refused a message from the page: ${parsed.error}`);
  return null;
}
