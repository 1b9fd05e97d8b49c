/**
 * The last lines a model server wrote, for error reports, kept in bounded memory whatever it writes.
 * Lines end at `\n`, `\r\n` or a lone `\r` (a progress bar redrawing itself: each redraw replaces
 * the one before, so a long download does not push the real messages out). The unfinished line and
 * every kept line are cut at `maxLineChars`; what is cut is counted, never held. Each chunk costs time
 * in proportion to its own length, so a server that writes 100 MB without a newline costs linear
 * time and a few kilobytes.
 */

export interface OutputLinesOptions {
  /** How many finished lines are kept (default 20). */
  keep?: number;
  /** Longer lines are cut to this many characters, with a note of how many were dropped (default 2000). */
  maxLineChars?: number;
}

interface OpenLine {
  text: string;
  /** Characters dropped from this unfinished line beyond `maxLineChars`. */
  dropped: number;
  /** The chunk before ended with `\r`: a `\n` now belongs to that line end. */
  afterCr: boolean;
}

export class OutputLines {
  readonly keep: number;
  readonly maxLineChars: number;
  private readonly lines: string[] = [];
  /** Whether the last kept line ended with a lone `\r` (a redraw the next one replaces). */
  private lastWasRedraw = false;
  private readonly partials = new Map<string, OpenLine>();

  constructor(options: OutputLinesOptions = {}) {
    this.keep = Math.max(1, options.keep ?? 20);
    this.maxLineChars = Math.max(16, options.maxLineChars ?? 2000);
  }

  /** Adds a chunk of one stream's output (streams keep their own unfinished lines). */
  push(chunk: string, stream = 'stdout'): void {
    let p = this.partials.get(stream);
    if (!p) {
      p = { text: '', dropped: 0, afterCr: false };
      this.partials.set(stream, p);
    }
    let i = 0;
    if (p.afterCr && chunk.startsWith('\n')) {
      i = 1; // the "\n" of a "\r\n" split across chunks: that line was no redraw
      this.lastWasRedraw = false;
    }
    p.afterCr = false;
    while (i < chunk.length) {
      const nl = chunk.indexOf('\n', i);
      const cr = chunk.indexOf('\r', i);
      const end = nl < 0 ? cr : cr < 0 ? nl : Math.min(nl, cr);
      if (end < 0) {
        this.append(p, chunk, i, chunk.length);
        return;
      }
      this.append(p, chunk, i, end);
      let redraw = false;
      if (chunk[end] === '\r') {
        if (end + 1 === chunk.length) redraw = p.afterCr = true;
        else if (chunk[end + 1] === '\n') i = end + 1;
        else redraw = true;
      }
      this.finish(p, redraw);
      i = Math.max(i, end) + 1;
    }
  }

  /** The last `count` lines, unfinished ones included (cut lines end with a note). */
  last(count = this.keep): string[] {
    const tail = this.lines.slice(-count);
    for (const p of this.partials.values()) if (p.text || p.dropped) tail.push(cut(p));
    return tail.slice(-count);
  }

  private append(p: OpenLine, chunk: string, from: number, to: number): void {
    const room = this.maxLineChars - p.text.length;
    const n = to - from;
    if (n <= room) p.text += chunk.slice(from, to);
    else {
      if (room > 0) p.text += chunk.slice(from, from + room);
      p.dropped += n - Math.max(0, room);
    }
  }

  private finish(p: OpenLine, redraw: boolean): void {
    const line = cut(p);
    p.text = '';
    p.dropped = 0;
    // A lone "\r" ends a redraw; a redraw replaces the redraw before it.
    if (this.lastWasRedraw && this.lines.length) this.lines[this.lines.length - 1] = line;
    else this.lines.push(line);
    this.lastWasRedraw = redraw;
    if (this.lines.length > this.keep * 4) this.lines.splice(0, this.lines.length - this.keep);
  }
}

function cut(p: OpenLine): string {
  return p.dropped ? `${p.text}… (${p.dropped} more characters)` : p.text;
}
