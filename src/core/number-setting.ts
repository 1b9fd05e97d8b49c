/**
 * One rule for every number setting: absent is the default; a value that is not a finite number in
 * its range is named in one sentence ("vramGuard.X must be a number of seconds from 0 to 600, got
 * -1. Using 10.") and the default is used.
 */

export interface NumberRange {
  /** In the setting's own unit. */
  fallback: number;
  min: number;
  max: number;
  /** Said in the sentence: "a number of seconds". */
  unit?: string;
}

/** `vramGuard.<key>`, read through `get` (the key without the prefix), checked against `range`. */
export function numberSetting(get: (key: string) => unknown, key: string, range: NumberRange, problems: string[]): number {
  const v = get(key);
  if (v === undefined || v === null) return range.fallback;
  if (typeof v === 'number' && Number.isFinite(v) && v >= range.min && v <= range.max) return v;
  problems.push(
    `vramGuard.${key} must be a number${range.unit ? ` of ${range.unit}` : ''} from ${range.min} to ${range.max}, got ${JSON.stringify(v)}. Using ${range.fallback}.`,
  );
  return range.fallback;
}
