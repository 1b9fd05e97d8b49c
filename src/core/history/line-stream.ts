/**
 * Lines from a stream of text, in bounded memory: a line longer than `maxLineChars` is not held (it is
 * reported by number and length, its text dropped), and reading stops after `maxBytes` characters.
 * Line ends: `\n` or `\r\n`.
 */

export type StreamLine = { lineNo: number; text: string } | { lineNo: number; text: null; length: number };

export interface LineStreamOptions {
  maxLineChars: number;
  /** Reading stops after this many characters; `truncated()` says so. */
  maxChars?: number;
}

export class LineStream {
  private readonly options: LineStreamOptions;
  private chars = 0;
  private stopped = false;

  constructor(options: LineStreamOptions) {
    this.options = options;
  }

  /** Characters read so far. */
  get read(): number {
    return this.chars;
  }

  /** Whether reading stopped at `maxChars` with text left. */
  truncated(): boolean {
    return this.stopped;
  }

  /** The lines of the stream, a chunk's worth at a time (one await per chunk, not per line). */
  async *lines(chunks: AsyncIterable<string | Buffer>): AsyncGenerator<StreamLine[]> {
    const max = this.options.maxLineChars;
    const limit = this.options.maxChars ?? Infinity;
    let parts: string[] = [];
    let held = 0;
    let length = 0;
    let lineNo = 0;
    const end = (): StreamLine => {
      lineNo++;
      let text: string | null = null;
      if (length <= max) {
        text = parts.join('');
        if (text.endsWith('\r')) text = text.slice(0, -1);
      }
      const out: StreamLine = text === null ? { lineNo, text: null, length } : { lineNo, text };
      parts = [];
      held = 0;
      length = 0;
      return out;
    };
    for await (const raw of chunks) {
      const batch: StreamLine[] = [];
      let chunk = typeof raw === 'string' ? raw : raw.toString('utf8');
      if (this.chars + chunk.length > limit) {
        chunk = chunk.slice(0, Math.max(0, limit - this.chars));
        this.stopped = true;
      }
      this.chars += chunk.length;
      let i = 0;
      while (i < chunk.length) {
        const nl = chunk.indexOf('\n', i);
        const stop = nl < 0 ? chunk.length : nl;
        const n = stop - i;
        length += n;
        // Hold text only while the line is short enough to be read.
        if (length <= max + 1) {
          parts.push(chunk.slice(i, stop));
          held += n;
        } else if (held) {
          parts = [];
          held = 0;
        }
        if (nl < 0) break;
        batch.push(end());
        i = nl + 1;
      }
      if (batch.length) yield batch;
      if (this.stopped) break;
    }
    // Text cut by the size cap ends in a partial line: it is not read.
    if (!this.stopped && (length > 0 || parts.length)) yield [end()];
  }
}
