/**
 * Turns metric samples (from a Prometheus query or an exporter's page) into hosts and GPUs: VRAM
 * Guard's gauges in bytes with thresholds and holders, dcgm-exporter's in MiB (total = used + free
 * + reserved). A host is its exporter's `hostname` / `Hostname` label, else the scrape target.
 * Bounded: at most MAX_HOSTS hosts and MAX_GPUS_PER_HOST GPUs each; label text is cut to 200 characters.
 */
import type { ThresholdSpec } from '../watch/thresholds.ts';
import { fleetLevel } from './fleet-levels.ts';
import type { FleetGpu, FleetHolder, FleetHost, FleetThresholds } from './fleet-types.ts';
import { DCGM, DCGM_UNIT_BYTES, VG } from './metric-names.ts';
import type { PromSample } from './prom-text.ts';

export const MAX_HOSTS = 1000;
export const MAX_GPUS_PER_HOST = 64;
export const HOLDERS_PER_GPU = 3;

interface GpuAcc {
  index: number;
  name: string | null;
  uuid: string | null;
  exporter: 'vram-guard' | 'dcgm';
  used: number | null;
  total: number | null;
  free: number | null;
  reserved: number | null;
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

const cut200 = (s: string): string => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
const cut = (s: string | undefined): string | null => (s ? cut200(s) : null);

/** Where a sample's host is: its instance (or the default), and the name to show. */
function hostOf(labels: Record<string, string>, defaultInstance: string): { instance: string; name: string; named: boolean } {
  const instance = labels.instance || defaultInstance;
  const own = labels.hostname || labels.Hostname;
  return { instance, name: cut200(own || instance.replace(/:\d+$/, '')), named: Boolean(own) };
}

export function hostsFromSamples(samples: Iterable<PromSample>, options: { defaultInstance: string; source: string; ours: ThresholdSpec }): FleetHost[] {
  const hosts = new Map<string, HostAcc>();
  for (const s of samples) {
    if (!Number.isFinite(s.value)) continue;
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
      gpu = { index, name: null, uuid: null, exporter, used: null, total: null, free: null, reserved: null, level: null, thresholds: {}, holders: new Map() };
      host.gpus.set(key, gpu);
    }
    gpu.name ??= cut(dcgm ? s.labels.modelName : s.labels.name);
    gpu.uuid ??= cut(dcgm ? s.labels.UUID : s.labels.uuid);
    const v = s.value;
    switch (s.name) {
      case VG.used:
        gpu.used = v;
        break;
      case VG.total:
        gpu.total = v;
        break;
      case VG.free:
        gpu.free = v;
        break;
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
      case DCGM.used:
        gpu.used = v * DCGM_UNIT_BYTES;
        break;
      case DCGM.free:
        gpu.free = v * DCGM_UNIT_BYTES;
        break;
      case DCGM.reserved:
        gpu.reserved = v * DCGM_UNIT_BYTES;
        break;
    }
  }
  const out: FleetHost[] = [];
  for (const host of hosts.values()) {
    const gpus: FleetGpu[] = [];
    for (const g of host.gpus.values()) {
      // A VRAM Guard exporter also publishes dcgm-exporter's names for the same GPU: keep its own.
      if (g.exporter === 'dcgm' && host.gpus.has(`vram-guard:${g.index}`)) continue;
      const total = g.total ?? (g.used !== null && g.free !== null ? g.used + g.free + (g.reserved ?? 0) : null);
      if (g.used === null || total === null || total <= 0) continue;
      const { thresholds, thresholdsFrom, level } = fleetLevel(g.used, total, g.thresholds, g.level, options.ours);
      const holders = [...g.holders.values()].sort((a, b) => b.bytes - a.bytes).slice(0, HOLDERS_PER_GPU);
      // Free as the exporter says (reserved memory is neither used nor free), else what is not used.
      const free = g.free !== null && g.free >= 0 && g.free <= total ? g.free : Math.max(0, total - g.used);
      gpus.push({
        index: g.index,
        name: g.name,
        uuid: g.uuid,
        usedBytes: g.used,
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
  for (const h of hosts) if ((count.get(h.name) ?? 0) > 1 && h.instance !== h.name) h.name = `${h.name} (${h.instance})`;
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
