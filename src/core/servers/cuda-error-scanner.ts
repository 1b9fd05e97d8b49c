/**
 * Scans a server's output, chunk by chunk, for CUDA error lines (cuda-errors.ts), in bounded
 * memory: a line of any length is scanned as it streams (a 1 MB line costs no more than its
 * bytes), only the last few characters of a chunk are kept to find a pattern cut in two, and each
 * line counts once however many patterns it holds. Bytes are read as Latin-1: the patterns are
 * ASCII, and no multi-byte character is ever split or decoded.
 */
import { CUDA_ERROR_PATTERNS, type CudaErrorPattern, LONGEST_PATTERN, patternExpression } from './cuda-errors.ts';

export interface CudaErrorLine {
  pattern: CudaErrorPattern;
  /** Up to 240 characters of the line around the match. */
  excerpt: string;
}

const EXCERPT = 240;

export class CudaErrorScanner {
  private readonly expression: RegExp;
  private readonly byText: Map<string, CudaErrorPattern>;
  /** The end of the previous chunk, when it holds no newline after which a pattern could start. */
  private carry = '';
  /** A counted error line whose end has not arrived yet. */
  private pending: CudaErrorLine | null = null;
  /** The line now streaming has already been counted. */
  private lineCounted = false;
  /** Error lines counted so far. */
  count = 0;

  private readonly onError: (line: CudaErrorLine) => void;

  constructor(onError: (line: CudaErrorLine) => void, patterns: readonly CudaErrorPattern[] = CUDA_ERROR_PATTERNS) {
    this.onError = onError;
    this.expression = patternExpression(patterns);
    this.byText = new Map(patterns.map((p) => [p.text, p]));
  }

  push(chunk: Buffer | string): void {
    const fresh = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    this.completePending(fresh);
    const text = this.carry + fresh;
    const re = this.expression;
    re.lastIndex = 0;
    let countedAfter = this.lineCounted ? -1 : -2;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const lineStart = text.lastIndexOf('\n', m.index);
      const lineEnd = text.indexOf('\n', m.index);
      if (lineStart !== countedAfter) {
        countedAfter = lineStart;
        this.count++;
        const from = Math.max(lineStart + 1, m.index - EXCERPT / 2);
        const to = Math.min(lineEnd < 0 ? text.length : lineEnd, from + EXCERPT);
        const found = { pattern: this.byText.get(m[0]) ?? { text: m[0], origin: '' }, excerpt: text.slice(from, to).replace(/\r$/, '') };
        // The line goes on in the next chunk: its excerpt is told once it ends (or is long enough).
        if (lineEnd < 0 && found.excerpt.length < EXCERPT) this.pending = found;
        else this.onError(found);
      }
      // The rest of this line cannot count again.
      if (lineEnd < 0) break;
      re.lastIndex = lineEnd + 1;
    }
    const lastNewline = text.lastIndexOf('\n');
    this.lineCounted = countedAfter === lastNewline || (lastNewline < 0 && countedAfter !== -2);
    this.carry = text.slice(Math.max(lastNewline + 1, text.length - (LONGEST_PATTERN - 1)));
  }

  /** Ends the excerpt of an error line that was cut by the end of a chunk. */
  private completePending(fresh: string): void {
    const p = this.pending;
    if (!p) return;
    const end = fresh.indexOf('\n');
    p.excerpt = (p.excerpt + (end < 0 ? fresh : fresh.slice(0, end))).slice(0, EXCERPT).replace(/\r$/, '');
    if (end < 0 && p.excerpt.length < EXCERPT) return;
    this.pending = null;
    this.onError(p);
  }

  /** The output ended: an error line without its newline is told as it is. */
  end(): void {
    this.completePending('\n');
  }
}
