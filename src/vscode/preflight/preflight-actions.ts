/**
 * What a pre-flight result offers, and the fallback chain run for it. Pure (no `vscode`): the
 * command shows the buttons and asks; this decides which, and runs the chain's steps in order until
 * the need (plus margin) fits.
 */
import type { PreflightReport } from '../../core/checks/preflight.ts';
import type { FallbackEvent } from '../../core/fallback/events.ts';
import { readingAfter, type LevelReading } from '../../core/fallback/triggers.ts';
import type { WatchedSample } from '../../core/watch/watcher.ts';

export const START_ANYWAY = 'Start anyway';
export const RUN_FALLBACK_CHAIN = 'Run fallback chain';
export type PreflightActionLabel = typeof START_ANYWAY | typeof RUN_FALLBACK_CHAIN;

const FREE_CHECK = 'preflight.free';

/** The pre-flight failed, or its free-memory check warned: freeing memory is what helps. */
export function memoryIsShort(report: PreflightReport): boolean {
  if (report.verdict === 'fail') return true;
  const free = report.checks.find((c) => c.id === FREE_CHECK);
  return free?.status === 'warn' || free?.status === 'fail';
}

/** The buttons for a result, given which hooks exist: none without a hook. */
export function offeredActions(report: PreflightReport, hooks: { startAnyway?: unknown; runFallbackChain?: unknown } | undefined): PreflightActionLabel[] {
  const out: PreflightActionLabel[] = [];
  if (hooks?.startAnyway && (report.verdict === 'warn' || report.verdict === 'fail')) out.push(START_ANYWAY);
  if (hooks?.runFallbackChain && memoryIsShort(report)) out.push(RUN_FALLBACK_CHAIN);
  return out;
}

/** Free memory the report's need asks for (need + margin) on its GPU, with what was free; null without a need or GPU. */
export function freeTarget(report: PreflightReport): { gpu: number; requiredFreeBytes: number; freeBytes: number; usedBytes: number } | null {
  if (!report.gpu || report.needBytes === null) return null;
  return {
    gpu: report.gpu.index,
    requiredFreeBytes: report.needBytes + (report.marginBytes ?? 0),
    freeBytes: report.gpu.freeBytes,
    usedBytes: report.gpu.usedBytes,
  };
}

/** The parts of the fallback chain a pre-flight run uses. */
export interface PreflightChain {
  dryRun(watched: WatchedSample): Promise<FallbackEvent[]>;
  runStep(index: number, reading: LevelReading): Promise<FallbackEvent | null>;
}

export interface ChainRunResult {
  events: FallbackEvent[];
  /** Free memory after the last step ran (estimated from the used memory it settled at). */
  freeBytes: number;
  enough: boolean;
}

/**
 * Runs, one at a time and in order, the steps the dry run says have something to do on the GPU
 * (whatever their triggers: a person asked), until free memory covers `requiredFreeBytes`.
 */
export async function runChainForNeed(
  chain: PreflightChain,
  plan: readonly FallbackEvent[],
  reading: LevelReading,
  target: { requiredFreeBytes: number; freeBytes: number },
): Promise<ChainRunResult> {
  const startUsed = reading.used;
  let current = reading;
  const freeNow = () => target.freeBytes + (startUsed - current.used);
  const events: FallbackEvent[] = [];
  const steps = [...new Set(plan.filter((e) => e.gpu === reading.gpu && e.result === 'would-run').map((e) => e.step))].sort((a, b) => a - b);
  for (const index of steps) {
    if (freeNow() >= target.requiredFreeBytes) break;
    const event = await chain.runStep(index, current);
    if (!event) continue;
    events.push(event);
    if (event.usedAfter !== null) current = readingAfter(current, event.usedAfter);
  }
  return { events, freeBytes: freeNow(), enough: freeNow() >= target.requiredFreeBytes };
}
