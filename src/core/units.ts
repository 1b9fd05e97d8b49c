/** Sizes as people write them ("6144MiB", "6GiB", "80%") and as VRAM Guard prints them. */

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export type SizeSpec = { kind: 'bytes'; bytes: number } | { kind: 'percent'; percent: number };

const UNITS: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: MiB,
  gib: GiB,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
};

/**
 * Parses "6144MiB", "6 GiB", "6144MB" (decimal), "80%", "2.5%". Returns an error sentence instead
 * of throwing. A bare number is refused: the unit says what is meant.
 */
export function parseSize(text: unknown): SizeSpec | { error: string } {
  if (typeof text !== 'string') return { error: `expected a string such as "6GiB" or "80%", got ${JSON.stringify(text)}` };
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%|[KMG]i?B|B)\s*$/i.exec(text);
  const unit = m?.[2]?.toLowerCase();
  if (!m || unit === undefined) return { error: `"${text}" is not a size: write it like "6144MiB", "6GiB" or "80%"` };
  const value = Number(m[1]);
  if (unit === '%') {
    if (value > 100) return { error: `"${text}" is more than 100%` };
    return { kind: 'percent', percent: value };
  }
  const factor = UNITS[unit];
  if (factor === undefined) return { error: `"${text}" has a unit VRAM Guard does not know: use B, KiB, MiB, GiB, KB, MB, GB or %` };
  return { kind: 'bytes', bytes: Math.round(value * factor) };
}

export function resolveSize(spec: SizeSpec, total: number): number {
  return spec.kind === 'bytes' ? spec.bytes : Math.round((spec.percent / 100) * total);
}

export function formatSizeSpec(spec: SizeSpec): string {
  return spec.kind === 'percent' ? `${spec.percent}%` : formatMiB(spec.bytes);
}

/** "5418 MiB" */
export function formatMiB(bytes: number): string {
  return `${Math.round(bytes / MiB)} MiB`;
}

/** "5.3" — GiB with one decimal and no unit, for "5.3/8.0 GiB" (the status bar). */
export function formatGiBFigure(bytes: number): string {
  return (bytes / GiB).toFixed(1);
}

/** "6.0 GiB" — one decimal, for sentences a person reads at a glance (notifications). */
export function formatGiB(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}

export function percentOf(part: number, total: number): number {
  return total > 0 ? (part / total) * 100 : 0;
}
