/**
 * The lines of a followed journal, read in bounded memory and bounded time however fast they come:
 *
 * - a line up to `maxLineBytes` (64 KiB) is handed over whole, to be parsed as JSON;
 * - a longer one is not held: its bytes are handed over as they arrive (`onLongPiece`), so a
 *   scanner can still find an error pattern in it (a 1 MB line costs its bytes, never 1 MB of
 *   memory), and it is counted as `long`;
 * - at most `maxLinesPerSecond` lines (5,000) are read in any second of the clock given; the lines
 *   past it are skipped up to their newline, never decoded or held, and counted as `dropped`.
 *
 * Each chunk costs time in proportion to its own length; nothing grows with the journal.
 */

export interface JournalLinesOptions {
  maxLineBytes?: number;
  maxLinesPerSecond?: number;
  /** The clock of the rate limit (ms). */
  now?: () => number;
  /** A whole line (without its newline), at most `maxLineBytes` long. */
  onLine: (line: Buffer) => void;
  /** A piece of a line longer than `maxLineBytes`; `end` on its last piece. */
  onLongPiece: (piece: Buffer, end: boolean) => void;
}

export const JOURNAL_LINE_BYTES = 64 * 1024;
export const JOURNAL_LINES_PER_SECOND = 5000;

export class JournalLines {
  /** Lines read (whole or long). */
  read = 0;
  /** Lines longer than the limit, scanned as they came and not parsed. */
  long = 0;
  /** Lines skipped by the rate limit. */
  dropped = 0;

  private readonly maxLineBytes: number;
  private readonly maxPerSecond: number;
  private readonly now: () => number;
  private readonly onLine: JournalLinesOptions['onLine'];
  private readonly onLongPiece: JournalLinesOptions['onLongPiece'];
  /** The open line's pieces while it is short enough to keep. */
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  /** What the open line is: kept, streamed (too long), skipped (over the rate), or none open. */
  private mode: 'none' | 'keep' | 'long' | 'skip' = 'none';
  private second = Number.NaN;
  private inSecond = 0;

  constructor(options: JournalLinesOptions) {
    this.maxLineBytes = Math.max(64, options.maxLineBytes ?? JOURNAL_LINE_BYTES);
    this.maxPerSecond = Math.max(1, options.maxLinesPerSecond ?? JOURNAL_LINES_PER_SECOND);
    this.now = options.now ?? Date.now;
    this.onLine = options.onLine;
    this.onLongPiece = options.onLongPiece;
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.mode === 'none') this.open();
      const nl = chunk.indexOf(10, i);
      const end = nl < 0 ? chunk.length : nl;
      this.take(chunk.subarray(i, end), nl >= 0);
      i = end + 1;
    }
  }

  /** The journal ended: a last line without its newline is finished as it is. */
  end(): void {
    if (this.mode !== 'none') this.take(Buffer.alloc(0), true);
  }

  /**
   * The journal was cut off (journalctl stopped by us): a last line without its newline is a
   * fragment of a write the stop interrupted, so it is dropped rather than read as a line. A long
   * line's pieces already scanned end there.
   */
  cut(): void {
    if (this.mode === 'long') this.onLongPiece(Buffer.alloc(0), true);
    this.pieces = [];
    this.pieceBytes = 0;
    this.mode = 'none';
  }

  /** A new line starts: read it, or skip it when this second's lines are used up. */
  private open(): void {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.second) {
      this.second = second;
      this.inSecond = 0;
    }
    if (this.inSecond >= this.maxPerSecond) {
      this.mode = 'skip';
      this.dropped++;
      return;
    }
    this.inSecond++;
    this.read++;
    this.mode = 'keep';
  }

  private take(piece: Buffer, ends: boolean): void {
    if (this.mode === 'keep') {
      if (this.pieceBytes + piece.length <= this.maxLineBytes) {
        // A copy: a piece must not keep the whole chunk it came in alive.
        if (piece.length) this.pieces.push(Buffer.from(piece));
        this.pieceBytes += piece.length;
        if (ends) {
          const line = this.pieces.length === 1 ? (this.pieces[0] as Buffer) : Buffer.concat(this.pieces);
          this.pieces = [];
          this.pieceBytes = 0;
          this.onLine(line);
        }
      } else {
        // Too long to keep: what was kept and the rest go to the scanner as they come.
        this.long++;
        this.mode = 'long';
        for (const p of this.pieces) this.onLongPiece(p, false);
        this.pieces = [];
        this.pieceBytes = 0;
        this.onLongPiece(piece, ends);
      }
    } else if (this.mode === 'long') this.onLongPiece(piece, ends);
    if (ends) this.mode = 'none';
  }
}
