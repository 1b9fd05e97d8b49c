/** Quoting a program's or a driver's output in a message: one line, capped, so a flood stays readable. */

/** How many characters of output a message quotes at most. */
export const QUOTE_LIMIT = 200;

/** The text on one line (control characters and runs of whitespace as one space), cut to `limit` characters. */
export function oneLine(text: string, limit = QUOTE_LIMIT): string {
  const head = text.length > limit * 4 ? text.slice(0, limit * 4) : text;
  const flat = head
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is what this line is for
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (flat.length <= limit && head.length === text.length) return flat;
  return `${flat.slice(0, limit)}… (${text.length} characters in all)`;
}

/** oneLine in quotes, for output that is quoted as evidence ("printed …"). */
export function quoteOutput(text: string, limit = QUOTE_LIMIT): string {
  const line = oneLine(text, limit);
  const cut = line.lastIndexOf('… (');
  return cut >= 0 && line.endsWith(' characters in all)') ? `"${line.slice(0, cut + 1)}"${line.slice(cut + 1)}` : `"${line}"`;
}

/**
 * What a terminal acts on instead of showing: C0 and C1 control characters (ESC, BEL, CR, LF, CSI…),
 * DEL, and the bidirectional marks and overrides that reorder a line.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is what this pattern is for
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED_ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * Text from outside VRAM Guard (a driver's GPU or process name, a process's own command line, a
 * Prometheus label or error) safe to print in a terminal or a table cell: each such character is
 * shown as an escape (`\x1B`, `\x07`, `\r`, `\n`, `\u202E`), so the text can neither set the
 * terminal's title, move the cursor nor start a row of its own — and the user still sees it was there.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return NAMED_ESCAPES[c] ?? (code < 0x100 ? `\\x${code.toString(16).toUpperCase().padStart(2, '0')}` : `\\u${code.toString(16).toUpperCase()}`);
  });
}
