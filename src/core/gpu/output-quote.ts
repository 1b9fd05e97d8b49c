/** Quoting a program's or a driver's output in a message: one line, capped, so a flood stays readable. */

/** How many characters of output a message quotes at most. */
export const QUOTE_LIMIT = 200;

/** The text on one line (runs of whitespace as one space), cut to `limit` characters with an ellipsis, in quotes. */
export function quoteOutput(text: string, limit = QUOTE_LIMIT): string {
  const head = text.length > limit * 4 ? text.slice(0, limit * 4) : text;
  const flat = head.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  const cut = flat.length > limit || head.length < text.length;
  return `"${cut ? `${flat.slice(0, limit)}…` : flat}"${cut ? ` (${text.length} characters in all)` : ''}`;
}
