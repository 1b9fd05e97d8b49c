/**
 * One line of `journalctl -o json`: an entry's MESSAGE, the PID that logged it and when. journald
 * writes MESSAGE as a JSON string when it is valid UTF-8 text, as an array of byte values when it
 * is not (binary, or control characters), and as null when the field is present but empty or too
 * large for journalctl's output limit; a missing or other-typed MESSAGE is no message.
 */

export interface JournalEntry {
  /** The message as text (bytes decoded as Latin-1, which keeps every byte), or null when there is none. */
  message: string | null;
  /** `_PID`, when given. */
  pid: number | null;
  /** `__REALTIME_TIMESTAMP` in ms since the epoch, when given. */
  at: number | null;
}

/** The MESSAGE field's value as text: a string, an array of bytes, or nothing. */
export function messageText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const bytes = Buffer.alloc(value.length);
    let n = 0;
    for (const b of value) if (Number.isInteger(b) && b >= 0 && b <= 255) bytes[n++] = b as number;
    return bytes.subarray(0, n).toString('latin1');
  }
  return null;
}

function wholeNumber(value: unknown): number | null {
  const n = typeof value === 'string' && /^\d{1,20}$/.test(value) ? Number(value) : typeof value === 'number' ? value : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Reads one JSON line; null when it is not a JSON object (a torn or foreign line). */
export function parseJournalLine(line: string): JournalEntry | null {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return null;
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return null;
  const o = json as Record<string, unknown>;
  const micros = wholeNumber(o.__REALTIME_TIMESTAMP);
  return { message: messageText(o.MESSAGE), pid: wholeNumber(o._PID), at: micros === null ? null : Math.floor(micros / 1000) };
}
