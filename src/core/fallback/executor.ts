/**
 * What a fallback step does, planned before it is done: the plan says in a sentence what would
 * happen (the dry run shows it), and `run` does it and says what happened.
 */
import type { FallbackStep } from '../servers/fallback-steps.ts';

export type Plan =
  | { ok: true; target: string; description: string; run: () => Promise<string> }
  /** Nothing to do: no such server running, already at the smallest context, an untrusted workspace... */
  | { ok: false; target: string | null; reason: string };

export interface FallbackExecutor {
  plan(step: FallbackStep, gpu: number): Promise<Plan>;
}
