/**
 * Why one fleet source (a Prometheus, an exporter URL) gave nothing this time: a kind the code can
 * branch on and a sentence the user reads. One source's error never stops the others.
 */

export type SourceErrorKind = 'bad-url' | 'unreachable' | 'timeout' | 'http' | 'too-large' | 'malformed' | 'prometheus';

export class FleetSourceError extends Error {
  readonly kind: SourceErrorKind;
  constructor(kind: SourceErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** The first characters of a reply, on one line, for an error message. */
export function quoteStart(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}
