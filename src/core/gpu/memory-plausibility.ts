/**
 * Memory figures that cannot be true are a device error, never a level: NVML's "not available"
 * (2^64−1) in a memory figure, used or free above the total, a total of 0 (or beyond any GPU),
 * a negative figure. Such a reading must not reach the classifier, the notifications or the
 * fallback chain, so the device gets no memory and an IMPLAUSIBLE_READING error quoting the figures.
 */
import type { DeviceError, DeviceMemory } from './types.ts';

/** NVML_VALUE_NOT_AVAILABLE_ULONGLONG: what NVML writes into a 64-bit figure it cannot read. */
export const U64_NOT_AVAILABLE = 0xffff_ffff_ffff_ffffn;
/** No GPU holds a pebibyte: a total above this is a garbled figure. */
export const MAX_PLAUSIBLE_TOTAL_BYTES = 2n ** 50n;
export const IMPLAUSIBLE_READING = 'IMPLAUSIBLE_READING';

/** Memory figures in bytes as the driver gave them (bigint: 64-bit figures stay exact). */
export interface RawMemoryFigures {
  total: bigint;
  used: bigint;
  /** null where the source gives no free figure (a fleet exporter may not). */
  free: bigint | null;
  reserved: bigint | null;
}

function figure(value: bigint): string {
  return value === U64_NOT_AVAILABLE ? `${value} B (0xFFFFFFFFFFFFFFFF, NVML's "not available")` : `${value} B`;
}

/** Why the figures cannot be true, or null when they can. */
export function implausibility(m: RawMemoryFigures): string | null {
  const named: Array<[string, bigint | null]> = [
    ['used', m.used],
    ['free', m.free],
    ['total', m.total],
    ['reserved', m.reserved],
  ];
  for (const [name, value] of named) {
    if (value === null) continue;
    if (value === U64_NOT_AVAILABLE) return `${name} = ${figure(value)}`;
    if (value < 0n) return `${name} is negative (${value} B)`;
  }
  if (m.total === 0n) return 'total = 0 B';
  if (m.total > MAX_PLAUSIBLE_TOTAL_BYTES) return `total = ${figure(m.total)}, more than any GPU holds`;
  if (m.used > m.total) return `used ${figure(m.used)} is more than total ${figure(m.total)}`;
  if (m.free !== null && m.free > m.total) return `free ${figure(m.free)} is more than total ${figure(m.total)}`;
  return null;
}

/** Memory figures as another program published them (a fleet exporter): any number, NaN and ±Inf included. */
export interface PublishedMemoryFigures {
  total: number;
  used: number;
  free: number | null;
  reserved: number | null;
}

const published = (value: number): string => (Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf');

/** The same rules for figures read as numbers: a figure that is not a number is implausible too. */
export function implausiblePublished(m: PublishedMemoryFigures): string | null {
  const named: Array<[string, number | null]> = [
    ['used', m.used],
    ['free', m.free],
    ['total', m.total],
    ['reserved', m.reserved],
  ];
  for (const [name, value] of named) if (value !== null && !Number.isFinite(value)) return `${name} = ${published(value)}`;
  const exact = (value: number) => BigInt(Math.round(value));
  return implausibility({
    total: exact(m.total),
    used: exact(m.used),
    free: m.free === null ? null : exact(m.free),
    reserved: m.reserved === null ? null : exact(m.reserved),
  });
}

export function implausibleError(reason: string, source: string): DeviceError {
  return {
    code: IMPLAUSIBLE_READING,
    message: `implausible reading from ${source}: ${reason}. Not used for levels or fallback steps; if it persists, the driver is misreporting (compare \`nvidia-smi -q -d MEMORY\`).`,
  };
}

/** The figures as a DeviceMemory, or the error that replaces them. */
export function checkedMemory(m: RawMemoryFigures, source: string): { memory: DeviceMemory } | { error: DeviceError } {
  const reason = implausibility(m);
  if (reason) return { error: implausibleError(reason, source) };
  return { memory: { total: Number(m.total), used: Number(m.used), free: Number(m.free), reserved: m.reserved === null ? null : Number(m.reserved) } };
}
