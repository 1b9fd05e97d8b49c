/**
 * An estimate beside what the server really takes once it runs (Ollama's `size_vram`, NVML's
 * per-process figure, a measured rise in used VRAM): the difference, in MiB and percent.
 */
import { formatMiB } from '../units.ts';

/** Within this share of the measured figure, the estimate counts as close. */
export const DEFAULT_TOLERANCE = 0.15;

export interface EstimateComparison {
  estimateBytes: number;
  measuredBytes: number;
  /** Where the measured figure comes from, e.g. "Ollama size_vram", "NVML, PID 4242". */
  measuredBy: string;
  /** estimate − measured: positive when the estimate is above what the server took. */
  differenceBytes: number;
  /** The difference as a share of the measured figure (0.05 = 5% above). */
  differenceRatio: number;
  tolerance: number;
  withinTolerance: boolean;
  /** "estimate 2879 MiB, measured 2838 MiB (NVML): 41 MiB (1.4%) above, within 15%" */
  summary: string;
}

export function compareEstimate(estimateBytes: number, measured: { bytes: number; by: string }, tolerance = DEFAULT_TOLERANCE): EstimateComparison {
  const differenceBytes = estimateBytes - measured.bytes;
  const differenceRatio = measured.bytes > 0 ? differenceBytes / measured.bytes : differenceBytes === 0 ? 0 : Number.POSITIVE_INFINITY;
  const withinTolerance = Math.abs(differenceRatio) <= tolerance;
  const direction =
    differenceBytes === 0
      ? 'the same'
      : `${formatMiB(Math.abs(differenceBytes))} (${(Math.abs(differenceRatio) * 100).toFixed(1)}%) ${differenceBytes > 0 ? 'above' : 'below'}`;
  const verdict = withinTolerance ? `within ${Math.round(tolerance * 100)}%` : `off by more than ${Math.round(tolerance * 100)}%`;
  return {
    estimateBytes,
    measuredBytes: measured.bytes,
    measuredBy: measured.by,
    differenceBytes,
    differenceRatio,
    tolerance,
    withinTolerance,
    summary: `estimate ${formatMiB(estimateBytes)}, measured ${formatMiB(measured.bytes)} (${measured.by}): ${direction}, ${verdict}`,
  };
}
