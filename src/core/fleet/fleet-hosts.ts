/**
 * Turns metric samples (from a Prometheus query or an exporter's page) into hosts and GPUs: VRAM
 * Guard's gauges in bytes with thresholds and holders, dcgm-exporter's in MiB (total = used + free
 * + reserved). A host is its exporter's `hostname` / `Hostname` label, else the scrape target.
 * Bounded: at most MAX_HOSTS hosts and MAX_GPUS_PER_HOST GPUs each; label text is cut to 200
 * characters and made printable (a label may hold ESC, BEL or a line break).
 *
 * A GPU's memory figures pass the local sampler's plausibility rules (memory-plausibility.ts): a
 * negative, NaN or infinite figure, a total of 0, used or free above the total leave the GPU out;
 * so do two series that give the same GPU different figures (two exporters behind one instance),
 * since either could be the wrong one. Each GPU left out is reported with its reason, never dropped
 * without a word.
 */
import { implausiblePublished } from '../gpu/memory-plausibility.ts';
import { printable } from '../gpu/output-quote.ts';
import { formatMiB } from '../units.ts';
import type { ThresholdSpec } from '../watch/thresholds.ts';
import { fleetLevel } from './fleet-levels.ts';
import type { FleetGpu, FleetHolder, FleetHost, FleetLeftOut, FleetThresholds } from './fleet-types.ts';
import { DCGM, DCGM_UNIT_BYTES, VG } from './metric-names.ts';
import type { PromSample } from './prom-text.ts';

export const MAX_HOSTS = 1000;
export const MAX_GPUS_PER_HOST = 64;
export const HOLDERS_PER_GPU = 3;
/** How many different values of one figure are kept to quote when series disagree. */
const MAX_QUOTED_VALUES = 4;

/** The memory figures, in bytes, each as the distinct values its series gave (one when they agree). */
type Figure = 'used' | 'total' | 'free' | 'reserved';
const FIGURES: readonly Figure[] = ['used', 'total', 'free', 'reserved'];
const FIGURE_OF: ReadonlyMap<string, { figure: Figure; scale: number }> = new Map([
  [VG.used, { figure: 'used', scale: 1 }],
  [VG.total, { figure: 'total', scale: 1 }],
  [VG.free, { figure: 'free', scale: 1 }],
  [DCGM.used, { figure: 'used', scale: DCGM_UNIT_BYTES }],
  [DCGM.free, { figure: 'free', scale: DCGM_UNIT_BYTES }],
  [DCGM.reserved, { figure: 'reserved', scale: DCGM_UNIT_BYTES }],
]);

interface GpuAcc {
  index: number;
  name: string | null;
  uuid: string | null;
  exporter: 'vram-guard' | 'dcgm';
  figures: Record<Figure, number[]>;
  level: number | null;
  thresholds: Partial<FleetThresholds>;
  holders: Map<string, FleetHolder>;
}

interface HostAcc {
  name: string;
  /** Whether the name is the exporter's own (else the instance's, until a series names it). */
  named: boolean;
  instance: string;
  gpus: Map<string, GpuAcc>;
  /** The exporter's own last sample (ms), when it says. */
  sampledAt: number | null;
}

const cut200 = (s: string): string => {
  const text = printable(s);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
};
const cut = (s: string | undefined): string | null => (s ? cut200(s) : null);

/** Where a sample's host is: its instance (or the default), and the name to show. */
function hostOf(labels: Record<string, string>, defaultInstance: string): { instance: string; name: string; named: boolean } {
  const instance = labels.instance || defaultInstance;
  const own = labels.hostname || labels.Hostname;
  return { instance, name: cut200(own || instance.replace(/:\d+$/, '')), named: Boolean(own) };
}

/** Adds a value to a figure's distinct values (NaN equals NaN here). */
function note(values: number[], value: number): void {
  if (values.length < MAX_QUOTED_VALUES && !values.some((v) => Object.is(v, value))) values.push(value);
}

const valueText = (bytes: number): string => (Number.isFinite(bytes) ? formatMiB(bytes) : String(bytes));

/** Why a GPU's figures are not shown, or null with the figures to use. */
function checkFigures(g: GpuAcc): { reason: string } | { used: number; total: number; free: number | null } {
  for (const figure of FIGURES) {
    const values = g.figures[figure];
    if (values.length > 1)
      return {
        reason: `its series disagree on ${figure} memory (${values.map(valueText).join(', ')}${values.length >= MAX_QUOTED_VALUES ? ', …' : ''}): more than one exporter reports this GPU under one instance`,
      };
  }
  const used = g.figures.used[0];
  const free = g.figures.free[0] ?? null;
  const reserved = g.figures.reserved[0] ?? null;
  const total = g.figures.total[0] ?? (used !== undefined && free !== null ? used + free + (reserved ?? 0) : undefined);
  if (used === undefined || total === undefined) return { reason: `no ${used === undefined ? 'used' : 'total or free'} memory figure` };
  const implausible = implausiblePublished({ used, total, free, reserved });
  if (implausible) return { reason: `implausible reading: ${implausible}` };
  return { used, total, free };
}

export interface HostsFromSamplesOptions {
  defaultInstance: string;
  source: string;
  ours: ThresholdSpec;
  /** Receives each GPU left out, with its reason. */
  leftOut?: FleetLeftOut[];
}

export function hostsFromSamples(samples: Iterable<PromSample>, options: HostsFromSamplesOptions): FleetHost[] {
  const hosts = new Map<string, HostAcc>();
  for (const s of samples) {
    const memory = FIGURE_OF.get(s.name);
    // A memory figure that is not a number is kept, to be reported; any other such sample says nothing.
    if (!memory && !Number.isFinite(s.value)) continue;
    const dcgm = s.name.startsWith('DCGM_');
    const h = hostOf(s.labels, options.defaultInstance);
    let host = hosts.get(h.instance);
    if (!host) {
      if (hosts.size >= MAX_HOSTS) continue;
      host = { ...h, gpus: new Map(), sampledAt: null };
      hosts.set(h.instance, host);
    } else if (!host.named && h.named) {
      host.name = h.name;
      host.named = true;
    }
    if (s.name === VG.lastSample) {
      host.sampledAt = s.value * 1000;
      continue;
    }
    const index = Number(s.labels.gpu);
    if (!Number.isInteger(index) || index < 0 || index > 1_000_000) continue;
    const exporter = dcgm ? 'dcgm' : 'vram-guard';
    const key = `${exporter}:${index}`;
    let gpu = host.gpus.get(key);
    if (!gpu) {
      if (host.gpus.size >= MAX_GPUS_PER_HOST) continue;
      gpu = {
        index,
        name: null,
        uuid: null,
        exporter,
        figures: { used: [], total: [], free: [], reserved: [] },
        level: null,
        thresholds: {},
        holders: new Map(),
      };
      host.gpus.set(key, gpu);
    }
    gpu.name ??= cut(dcgm ? s.labels.modelName : s.labels.name);
    gpu.uuid ??= cut(dcgm ? s.labels.UUID : s.labels.uuid);
    const v = s.value;
    if (memory) {
      note(gpu.figures[memory.figure], v * memory.scale);
      continue;
    }
    switch (s.name) {
      case VG.level:
        gpu.level = v;
        break;
      case VG.threshold: {
        const level = s.labels.level;
        if (level === 'warning' || level === 'critical' || level === 'emergency') gpu.thresholds[level] = v;
        break;
      }
      case VG.process:
        addHolder(gpu.holders, s.labels, v);
        break;
    }
  }
  const out: FleetHost[] = [];
  for (const host of hosts.values()) {
    const gpus: FleetGpu[] = [];
    for (const g of host.gpus.values()) {
      // A VRAM Guard exporter also publishes dcgm-exporter's names for the same GPU: keep its own.
      if (g.exporter === 'dcgm' && host.gpus.has(`vram-guard:${g.index}`)) continue;
      const checked = checkFigures(g);
      if ('reason' in checked) {
        options.leftOut?.push({ host: host.name, instance: host.instance, source: options.source, gpu: g.index, reason: checked.reason });
        continue;
      }
      const { used, total } = checked;
      const { thresholds, thresholdsFrom, level } = fleetLevel(used, total, g.thresholds, g.level, options.ours);
      const holders = [...g.holders.values()].sort((a, b) => b.bytes - a.bytes).slice(0, HOLDERS_PER_GPU);
      // Free as the exporter says (reserved memory is neither used nor free), else what is not used.
      const free = checked.free ?? total - used;
      gpus.push({
        index: g.index,
        name: g.name,
        uuid: g.uuid,
        usedBytes: used,
        totalBytes: total,
        freeBytes: free,
        thresholds,
        thresholdsFrom,
        level,
        holders,
        sparkline: [],
        exporter: g.exporter,
      });
    }
    if (!gpus.length) continue;
    gpus.sort((a, b) => a.index - b.index || a.exporter.localeCompare(b.exporter));
    out.push({ name: host.name, instance: host.instance, source: options.source, gpus, lastSampleAt: host.sampledAt, stale: null });
  }
  return disambiguate(out);
}

/** Two scrape targets that call themselves by the same hostname are told apart by their instance. */
export function disambiguate(hosts: FleetHost[]): FleetHost[] {
  const count = new Map<string, number>();
  for (const h of hosts) count.set(h.name, (count.get(h.name) ?? 0) + 1);
  for (const h of hosts) if ((count.get(h.name) ?? 0) > 1 && h.instance !== h.name) h.name = `${h.name} (${cut200(h.instance)})`;
  return hosts.sort((a, b) => a.name.localeCompare(b.name));
}

function addHolder(holders: Map<string, FleetHolder>, labels: Record<string, string>, bytes: number): void {
  const task = labels.task;
  const server = labels.server;
  const kind: FleetHolder['kind'] = task ? 'task' : server ? 'server' : 'process';
  const label = cut(task || server || labels.process || (labels.pid ? `pid ${labels.pid}` : undefined)) ?? 'unknown process';
  const key = `${kind}:${label}`;
  const held = holders.get(key);
  if (held) {
    held.bytes += bytes;
    held.processes++;
  } else if (holders.size < 1000) {
    holders.set(key, { label, kind, bytes, processes: 1 });
  }
}
