/** Runs a browser test's steps in order, printing ok / FAIL / skip lines and counting them. */
import type { Totals } from '../integration/run.ts';

export interface Step {
  name: string;
  run: () => Promise<void>;
}

export interface StepOptions {
  /** Whether a failure of this step leaves nothing else worth checking (the rest are skipped). */
  stopsTheRest: (step: Step, index: number) => boolean;
  /** Called after a failure, e.g. for a screenshot; its own errors are ignored. */
  onFailure?: () => Promise<void>;
}

export async function runSteps(steps: readonly Step[], totals: Totals, options: StepOptions): Promise<void> {
  let broken: string | null = null;
  for (const [index, step] of steps.entries()) {
    if (broken) {
      console.log(`  skip ${step.name} (after: ${broken})`);
      totals.skipped++;
      continue;
    }
    const t = Date.now();
    try {
      await step.run();
      console.log(`  ok   ${step.name} (${Date.now() - t} ms)`);
      totals.passed++;
    } catch (err) {
      console.log(`  FAIL ${step.name} (${Date.now() - t} ms)\n       ${(err as Error).message.split('\n').slice(0, 6).join('\n       ')}`);
      totals.failed++;
      if (options.stopsTheRest(step, index)) broken = step.name;
      await options.onFailure?.().catch(() => {});
    }
  }
}
