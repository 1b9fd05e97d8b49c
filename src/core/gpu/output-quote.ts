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
