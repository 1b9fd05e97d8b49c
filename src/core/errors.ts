/** The one way VRAM Guard turns a thrown value into the sentence it shows. */

/** The message of an Error, or the value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The message of the Error's cause when there is one (fetch wraps the socket error), else its own. */
export function causeMessage(err: unknown): string {
  return err instanceof Error && err.cause instanceof Error ? err.cause.message : errorMessage(err);
}

/** The thrown value as an Error (a thrown string becomes one), for a listener that takes an Error. */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The Error's cause when that is an Error (fetch and node:test wrap the real failure), else the value itself. */
export function errorCause<T>(err: T): T | Error {
  return err instanceof Error && err.cause instanceof Error ? err.cause : err;
}
