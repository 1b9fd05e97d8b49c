/**
 * The metric names the fleet reads: VRAM Guard's exporter and dcgm-exporter's memory gauges. One
 * place, so a renamed metric is one edit.
 */

import { MiB } from '../units.ts';

/** VRAM Guard's exporter (bytes, labels `gpu`, `uuid`, `name`, `hostname`). */
export const VG = {
  used: 'vram_guard_gpu_memory_used_bytes',
  total: 'vram_guard_gpu_memory_total_bytes',
  free: 'vram_guard_gpu_memory_free_bytes',
  level: 'vram_guard_gpu_level',
  /** Label `level`: warning, critical, emergency. */
  threshold: 'vram_guard_gpu_threshold_bytes',
  /** Labels `pid`, `process`, `task`, `server` beside the GPU's. */
  process: 'vram_guard_process_memory_used_bytes',
  /** Label `hostname` only: when the exporter's sampler last read the GPUs (seconds since the epoch). */
  lastSample: 'vram_guard_last_sample_timestamp_seconds',
} as const;

/** dcgm-exporter's memory gauges, in MiB (its `etc/default-counters.csv`). */
export const DCGM = {
  used: 'DCGM_FI_DEV_FB_USED',
  free: 'DCGM_FI_DEV_FB_FREE',
  reserved: 'DCGM_FI_DEV_FB_RESERVED',
} as const;

export const DCGM_UNIT_BYTES = MiB;

/** Every metric the fleet reads from an exporter's page. */
export const FLEET_METRICS: readonly string[] = [
  VG.used,
  VG.total,
  VG.free,
  VG.level,
  VG.threshold,
  VG.process,
  VG.lastSample,
  DCGM.used,
  DCGM.free,
  DCGM.reserved,
];

/**
 * VRAM Guard's per-GPU gauges read through Prometheus, in two groups: those that carry the GPU's
 * labels (name, uuid, hostname) and those read by instance and GPU index only. The holders are
 * queried on their own; the level is left out (the thresholds beside it give it).
 */
export const VG_GPU_NAMED: readonly string[] = [VG.used, VG.total];
export const VG_GPU_PLAIN: readonly string[] = [VG.free, VG.threshold];
export const DCGM_METRICS: readonly string[] = [DCGM.used, DCGM.free, DCGM.reserved];

/** The "used" series of either exporter, for the last hour's sparkline. */
export const USED_METRICS: readonly string[] = [VG.used, DCGM.used];
