/**
 * A fleet GPU's thresholds and level: the host's own thresholds when its exporter publishes them,
 * else ours (the `vramGuard.thresholds` settings resolved for that GPU's total). No hysteresis: the
 * fleet shows where each GPU is now.
 */
import { rawLevel } from '../watch/classifier.ts';
import { LEVELS, type Level } from '../watch/levels.ts';
import { resolveThresholds, type ThresholdSpec } from '../watch/thresholds.ts';
import type { FleetThresholds } from './fleet-types.ts';

export function fleetLevel(
  usedBytes: number,
  totalBytes: number,
  exported: Partial<FleetThresholds>,
  exportedLevel: number | null,
  ours: ThresholdSpec,
): { thresholds: FleetThresholds; thresholdsFrom: 'host' | 'ours'; level: Level } {
  const { warning, critical, emergency } = exported;
  if (warning !== undefined && critical !== undefined && emergency !== undefined && warning < critical && critical < emergency && warning > 0) {
    const thresholds = { warning, critical, emergency };
    return { thresholds, thresholdsFrom: 'host', level: rawLevel(usedBytes, { ...thresholds, hysteresis: 0 }) };
  }
  const { thresholds } = resolveThresholds(ours, totalBytes);
  const t = { warning: thresholds.warning, critical: thresholds.critical, emergency: thresholds.emergency };
  // The host's own level (with its hysteresis) when it publishes one but not its thresholds.
  const published = exportedLevel !== null && Number.isInteger(exportedLevel) ? LEVELS[exportedLevel] : undefined;
  const level = published ?? rawLevel(usedBytes, { ...thresholds, hysteresis: 0 });
  return { thresholds: t, thresholdsFrom: 'ours', level };
}
