/** The fleet as VRAM Guard shows it: hosts, their GPUs (bytes), who holds the memory, and each source's outcome. */
import type { Level } from '../watch/levels.ts';
import type { SourceErrorKind } from './source-error.ts';

export interface FleetThresholds {
  warning: number;
  critical: number;
  emergency: number;
}

export interface FleetHolder {
  /** The task or server's name, else the process name, else "pid N". */
  label: string;
  kind: 'task' | 'server' | 'process';
  bytes: number;
  /** Processes summed into this line. */
  processes: number;
}

export interface FleetGpu {
  index: number;
  name: string | null;
  uuid: string | null;
  usedBytes: number;
  totalBytes: number;
  /** What can still be allocated: the exporter's free figure (total − used − reserved), else total − used. */
  freeBytes: number;
  thresholds: FleetThresholds;
  /** `host`: the host's exporter says where its levels start; `ours`: this machine's settings. */
  thresholdsFrom: 'host' | 'ours';
  level: Level;
  /** Largest first, at most a few. */
  holders: FleetHolder[];
  /** Used bytes over the last hour, oldest first, evenly spaced; empty when unknown. */
  sparkline: number[];
  exporter: 'vram-guard' | 'dcgm';
}

export interface FleetHost {
  /** What the user calls it: the exporter's hostname label, else the scrape target's host. */
  name: string;
  /** Prometheus' `instance`, or the exporter URL. */
  instance: string;
  /** The source it came from (a Prometheus or an exporter URL, as configured). */
  source: string;
  gpus: FleetGpu[];
  /** Milliseconds since the epoch of its newest sample; null when unknown. */
  lastSampleAt: number | null;
  /** Set when its data is old: since when there is none (null: unknown). */
  stale: { since: number | null } | null;
}

/** A GPU the fleet does not show or rank, and why: its figures cannot be true, or its series disagree. */
export interface FleetLeftOut {
  /** The host's name as it would have been shown (printable). */
  host: string;
  instance: string;
  source: string;
  gpu: number;
  reason: string;
}

export type FleetSourceOutcome =
  | { source: string; ok: true; hosts: number; ms: number }
  | { source: string; ok: false; kind: SourceErrorKind; error: string; ms: number };

export interface FleetSnapshot {
  at: number;
  hosts: FleetHost[];
  sources: FleetSourceOutcome[];
  /** GPUs of the sources read this time that were left out, each with its reason. */
  leftOut: FleetLeftOut[];
}
