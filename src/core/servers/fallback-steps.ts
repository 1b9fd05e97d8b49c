/**
 * Fallback steps as configured (`vramGuard.fallbackChain`, or a task's `fallback.steps`): an action,
 * a trigger, a target and a mode. Parsing never throws: each invalid step yields one sentence naming
 * where it came from, and is left out.
 */
import { formatMiB, parseSize, type SizeSpec } from '../units.ts';
import { LEVELS, type Level } from '../watch/levels.ts';
import { thresholdProblem } from '../watch/thresholds.ts';
import { ollamaKind } from './kinds/ollama.ts';

export const FALLBACK_ACTIONS = ['reduceContext', 'unloadModel', 'moveToCpu', 'stopServer', 'restartServer', 'command'] as const;
export type FallbackAction = (typeof FALLBACK_ACTIONS)[number];

export const FALLBACK_MODES = ['auto', 'confirm', 'manual'] as const;
export type FallbackMode = (typeof FALLBACK_MODES)[number];

/**
 * When a step applies: a GPU at or above a level, used memory at or above a threshold, or a
 * CUDA-error cascade in the output of a server VRAM Guard runs (`"trigger": "cascade"`; the step
 * then acts on that server).
 */
export type Trigger = { kind: 'level'; level: Exclude<Level, 'ok'> } | { kind: 'threshold'; threshold: SizeSpec } | { kind: 'cascade' };

/** The trigger's names in settings: "cascade", or "onCascade" as the chain's event is called. */
const CASCADE_NAMES = ['cascade', 'oncascade'];

export interface FallbackStep {
  action: FallbackAction;
  trigger: Trigger;
  /**
   * What the step acts on: a task's name, or a server kind ("ollama", "llama-server", "vllm",
   * "whisper-cpp", "faster-whisper", or "whisper" for both); null for `command`, or for "every
   * matching server".
   */
  target: string | null;
  /** `unloadModel` on Ollama: one model's name; null unloads every loaded model. */
  model: string | null;
  /** `command`: the program and its arguments. */
  command: string[] | null;
  /** null: the chain's mode (`vramGuard.fallbackMode`). */
  mode: FallbackMode | null;
  /** A short name for logs and the UI; defaults to "action target". */
  label: string;
}

/** A user's measured setup: reduce context → unload Ollama → Whisper to CPU, each asked first. */
export const DEFAULT_CHAIN_SETTING: readonly Record<string, unknown>[] = [
  { action: 'reduceContext', trigger: 'critical' },
  { action: 'unloadModel', target: ollamaKind.id, trigger: 'critical' },
  { action: 'moveToCpu', target: 'whisper', trigger: 'emergency' },
];
export const DEFAULT_MODE: FallbackMode = 'confirm';

export function parseTrigger(value: unknown): Trigger | { error: string } {
  if (value === undefined || value === null) return { kind: 'level', level: 'critical' };
  if (typeof value === 'string') {
    const lower = value.trim().toLowerCase();
    if (CASCADE_NAMES.includes(lower)) return { kind: 'cascade' };
    if ((LEVELS as readonly string[]).includes(lower)) {
      if (lower === 'ok') return { error: 'the trigger "ok" would fire always: use warning, critical or emergency' };
      return { kind: 'level', level: lower as Exclude<Level, 'ok'> };
    }
    const size = parseSize(value);
    if ('error' in size)
      return {
        error: `trigger ${JSON.stringify(value)} is neither a level (warning, critical, emergency), a threshold ("95%", "7GiB") nor "cascade"${/more than 100%/.test(size.error) ? ': it is more than 100%, so it would never fire' : ''}`,
      };
    const never = thresholdProblem(size);
    if (never) return { error: `trigger ${never}` };
    return { kind: 'threshold', threshold: size };
  }
  return { error: `trigger must be a level ("critical"), a threshold ("95%", "7GiB") or "cascade", got ${JSON.stringify(value)}` };
}

/** Parses a list of steps; `where` names the setting or task in messages. */
export function parseSteps(value: unknown, where: string): { steps: FallbackStep[]; problems: string[] } {
  const steps: FallbackStep[] = [];
  const problems: string[] = [];
  if (value === undefined || value === null) return { steps, problems };
  if (!Array.isArray(value)) {
    problems.push(`${where} must be a list of steps such as [{ "action": "unloadModel", "target": "ollama", "trigger": "critical" }].`);
    return { steps, problems };
  }
  value.forEach((raw, i) => {
    const at = `${where}[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`${at} must be an object with an "action". It is left out.`);
      return;
    }
    const r = raw as Record<string, unknown>;
    const errors: string[] = [];
    const action = r.action;
    if (!(FALLBACK_ACTIONS as readonly unknown[]).includes(action))
      errors.push(`"action" must be one of ${FALLBACK_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`);
    const trigger = parseTrigger(r.trigger);
    if ('error' in trigger) errors.push(trigger.error);
    const target = r.target;
    if (target !== undefined && target !== null && (typeof target !== 'string' || !target.trim())) errors.push('"target" must be a task name or a server kind');
    const model = r.model;
    if (model !== undefined && model !== null && typeof model !== 'string') errors.push('"model" must be a model name');
    const mode = r.mode;
    if (mode !== undefined && mode !== null && !(FALLBACK_MODES as readonly unknown[]).includes(mode))
      errors.push(`"mode" must be one of ${FALLBACK_MODES.join(', ')}`);
    let command: string[] | null = null;
    if (action === 'command') {
      const c = r.command;
      if (typeof c === 'string')
        errors.push('"command" must be an array such as ["systemctl", "--user", "stop", "my-server"]: a single string would need a shell');
      else if (!Array.isArray(c) || !c.length || !c.every((x) => typeof x === 'string')) errors.push('"command" must be a non-empty array of strings');
      else command = c as string[];
    }
    if (errors.length) {
      problems.push(`${at}: ${errors.join('; ')}. This step is left out.`);
      return;
    }
    const t = typeof target === 'string' ? target.trim() : null;
    const a = action as FallbackAction;
    steps.push({
      action: a,
      trigger: trigger as Trigger,
      target: t,
      model: typeof model === 'string' ? model : null,
      command,
      mode: (mode as FallbackMode | undefined) ?? null,
      label: typeof r.label === 'string' && r.label ? r.label : `${a}${t ? ` ${t}` : ''}${typeof model === 'string' ? ` ${model}` : ''}`,
    });
  });
  return { steps, problems };
}

export function describeTrigger(trigger: Trigger): string {
  if (trigger.kind === 'cascade') return 'CASCADE';
  return trigger.kind === 'level'
    ? trigger.level.toUpperCase()
    : trigger.threshold.kind === 'percent'
      ? `${trigger.threshold.percent}%`
      : formatMiB(trigger.threshold.bytes);
}
