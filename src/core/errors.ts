/** The one way VRAM Guard turns a thrown value into the sentence it shows. */

/** The message of an Error, or the value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The message of the Error's cause when there is one (fetch wraps the socket error), else its own. */
export function causeMessage(err: unknown): string {
  return err instanceof Error && err.cause instanceof Error ? err.cause.message : errorMessage(err);
}
