/** Text placed into the Markdown reports VRAM Guard writes (details, pre-flight, fallback, spike, echo check). */

/** A table cell: backslashes and pipes escaped, line breaks folded into spaces. */
export function markdownCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Inline text (a GPU or process name): nothing in it turns into markup, links or table cells. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`);
}
