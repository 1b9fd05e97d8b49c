/**
 * The fallback settings, read through a getter (pure, tested without VS Code): the chain, the
 * default mode, the cooldown and the settle timeout. Invalid values yield one sentence and the default.
 */
import { DEFAULT_COOLDOWN_MS, DEFAULT_SETTLE_TIMEOUT_MS } from './chain.ts';
import { DEFAULT_CHAIN_SETTING, DEFAULT_MODE, FALLBACK_MODES, parseSteps, type FallbackMode, type FallbackStep } from '../servers/fallback-steps.ts';
import { numberSetting } from '../number-setting.ts';

export interface FallbackSettings {
  steps: FallbackStep[];
  mode: FallbackMode;
  cooldownMs: number;
  settleTimeoutMs: number;
  /** SIGTERM → SIGKILL grace for model servers. */
  stopTimeoutMs: number;
  problems: string[];
}

export function readFallbackSettings(get: (key: string) => unknown): FallbackSettings {
  const problems: string[] = [];
  const raw = get('fallbackChain');
  const parsed = parseSteps(raw ?? DEFAULT_CHAIN_SETTING, 'vramGuard.fallbackChain');
  problems.push(...parsed.problems);
  let mode = DEFAULT_MODE;
  const m = get('fallbackMode');
  if (m !== undefined && m !== null) {
    if ((FALLBACK_MODES as readonly unknown[]).includes(m)) mode = m as FallbackMode;
    else problems.push(`vramGuard.fallbackMode must be one of ${FALLBACK_MODES.join(', ')}, got ${JSON.stringify(m)}. Using "${DEFAULT_MODE}".`);
  }
  const seconds = (key: string, fallbackMs: number, max: number): number =>
    numberSetting(get, key, { fallback: fallbackMs / 1000, min: 0, max, unit: 'seconds' }, problems) * 1000;
  return {
    steps: parsed.steps,
    mode,
    cooldownMs: seconds('fallback.cooldownSeconds', DEFAULT_COOLDOWN_MS, 86_400),
    settleTimeoutMs: seconds('fallback.settleTimeoutSeconds', DEFAULT_SETTLE_TIMEOUT_MS, 600),
    stopTimeoutMs: seconds('servers.stopTimeoutSeconds', 10_000, 600),
    problems,
  };
}

/** The chain in force: the setting's steps, then each running task's own (aimed at that task). */
export function chainSteps(global: FallbackStep[], tasks: Array<{ name: string; steps: FallbackStep[] }>): FallbackStep[] {
  const out = [...global];
  for (const t of tasks) for (const s of t.steps) out.push({ ...s, target: s.target ?? t.name, label: s.target ? s.label : `${s.label} ${t.name}` });
  return out;
}
