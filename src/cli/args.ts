/** A small argument parser: `--flag value`, `--flag=value` and boolean `--flag`. */
import { parseThresholds, type ThresholdSpec } from '../core/watch/thresholds.ts';
import type { CliIo } from './io.ts';

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positional: string[];
}

export class UsageError extends Error {}

/**
 * `rawValues` are value flags whose value is itself a command line (`--args "--ctx-size 65536"`): the
 * next argument is their value even when it starts with `--`.
 */
export function parseArgs(
  args: readonly string[],
  spec: { booleans: readonly string[]; values: readonly string[]; rawValues?: readonly string[] },
): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === undefined) break;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (spec.booleans.includes(name)) {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (spec.values.includes(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      const raw = spec.rawValues?.includes(name) ?? false;
      if (value === undefined || (eq < 0 && !raw && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new UsageError(
        unknownOptionMessage(
          `--${name}`,
          [...spec.booleans, ...spec.values, 'help'].map((o) => `--${o}`),
        ),
      );
    }
  }
  return { flags, positional };
}

/** A command's arguments: its flags, its help, and how many words that are not options it takes. */
export interface CommandSpec {
  booleans: readonly string[];
  values: readonly string[];
  rawValues?: readonly string[];
  help: string;
  /** At most this many words that are not options (default none). */
  positionals?: number;
}

/**
 * Every command's preamble: parses `args` (`--help` is always known); with `--help` prints the help
 * and returns null, and the command exits 0; a word beyond `positionals` is refused.
 */
export function parseCommand(args: readonly string[], spec: CommandSpec, io: Pick<CliIo, 'stdout'>): ParsedArgs | null {
  const booleans = spec.booleans.includes('help') ? spec.booleans : [...spec.booleans, 'help'];
  const parsed = parseArgs(args, { booleans, values: spec.values, rawValues: spec.rawValues });
  if (parsed.flags.has('help')) {
    io.stdout(`${spec.help}\n`);
    return null;
  }
  const extra = parsed.positional[spec.positionals ?? 0];
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  return parsed;
}

export function stringFlag(parsed: ParsedArgs, name: string): string | undefined {
  const v = parsed.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** `--thresholds` and `--hysteresis`: the levels, as the settings' rules check them; the defaults when absent. */
export function thresholdFlags(parsed: ParsedArgs): ThresholdSpec {
  const text = stringFlag(parsed, 'thresholds');
  const thresholds = parseThresholds(text === undefined ? undefined : parseThresholdFlag(text), stringFlag(parsed, 'hysteresis'), {
    thresholds: '--thresholds',
    hysteresis: '--hysteresis',
  });
  if (thresholds.problems.length) throw new UsageError(thresholds.problems.join(' '));
  return thresholds.spec;
}

/** "warning=80%,critical=90%,emergency=95%" → { warning: "80%", ... } */
function parseThresholdFlag(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const [key, value] = part.split('=');
    if (!key?.trim() || value === undefined) throw new UsageError(`--thresholds: "${part}" should look like warning=80%`);
    out[key.trim()] = value.trim();
  }
  return out;
}

/** "unknown option --nede (did you mean --need?)": the nearest valid option, when one is close. */
export function unknownOptionMessage(given: string, valid: readonly string[]): string {
  const near = nearest(given, valid);
  return `unknown option ${given}${near ? ` (did you mean ${near}?)` : ''}`;
}

/** The valid word closest to `given` by edit distance, if it is close enough to be a typo; else null. */
export function nearest(given: string, valid: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const d = candidate.startsWith(given) && given.length > 3 ? 1 : editDistance(given, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const word = given.replace(/^--/, '');
  return best !== null && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  // previous[j] and current[j] are the distances from a's first i - 1 (then i) characters to b's first j.
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let left = i;
    for (let j = 1; j <= b.length; j++) {
      const up = previous[j] ?? Number.POSITIVE_INFINITY;
      const diagonal = previous[j - 1] ?? Number.POSITIVE_INFINITY;
      left = Math.min(up + 1, left + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      current[j] = left;
    }
    previous = current;
  }
  return previous[b.length] ?? b.length;
}
