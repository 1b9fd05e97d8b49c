/**
 * The result of one check, shared by every command that checks something (echo cancellation,
 * pre-flight, ...). Plain data: it goes into Markdown and JSON reports as it is.
 */

/**
 * - `pass`: what was checked is as it should be.
 * - `warn`: it works, but not as well as it could (the advice says how to improve it).
 * - `fail`: it does not work; the advice says what to do.
 * - `unavailable`: the check cannot be made on this machine (wrong platform, no server).
 */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'unavailable';

export interface CheckResult {
  /** Stable identifier, e.g. `aec.server`; used by scripts reading the JSON. */
  id: string;
  /** Short title, e.g. "PipeWire answers". */
  title: string;
  status: CheckStatus;
  /** What was found, in one or a few sentences, with the numbers. */
  detail: string;
  /** What to do about it; empty when nothing needs doing. */
  advice: string;
  /** Measured values for machine readers (JSON report); never needed to understand `detail`. */
  data?: Record<string, unknown>;
}

/** How every report writes a status: the same words in the pre-flight and echo-cancellation reports. */
export const CHECK_STATUS_LABEL: Record<CheckStatus, string> = { pass: '✅ pass', warn: '⚠️ warn', fail: '❌ fail', unavailable: '➖ not available' };

const severity: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2, unavailable: 3 };

/** The worst status among results (`pass` for none): unavailable > fail > warn > pass. */
export function worstStatus(results: readonly CheckResult[]): CheckStatus {
  let worst: CheckStatus = 'pass';
  for (const r of results) if (severity[r.status] > severity[worst]) worst = r.status;
  return worst;
}
