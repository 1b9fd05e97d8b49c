/**
 * A driver call that has not returned within its timeout. The call keeps its thread (nothing can
 * interrupt a call inside the driver), but the extension host does not wait for it: the GPU is shown
 * as "not answering since <time>" until the call returns or its worker is replaced.
 */
import type { DeviceError } from './types.ts';

export const NOT_ANSWERING = 'NOT_ANSWERING';

export class DriverNotAnsweringError extends Error {
  override name = 'DriverNotAnsweringError';
  /** When the call that has not returned started (ms since the epoch). */
  readonly since: number;
  /** What was called, e.g. "an NVML sample". */
  readonly call: string;

  constructor(call: string, since: number, timeoutMs: number) {
    super(`${call} has not returned after ${timeoutMs} ms: the driver is not answering`);
    this.call = call;
    this.since = since;
  }
}

/** Local wall-clock time as HH:MM:SS. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function notAnsweringError(err: DriverNotAnsweringError, now: number): DeviceError {
  const seconds = Math.max(0, Math.round((now - err.since) / 1000));
  return {
    code: NOT_ANSWERING,
    message: `not answering since ${clockTime(err.since)}: ${err.call} has not returned for ${seconds} s (a GPU falling off the bus or a driver reload does this). VRAM Guard keeps working and reads the GPU again as soon as the driver answers.`,
    since: err.since,
  };
}
