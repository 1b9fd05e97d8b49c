/**
 * Acting on a systemd unit from a fallback step: only a user unit of the user VRAM Guard runs as,
 * through `systemctl --user restart|stop UNIT` (an argument array, the unit name checked first). A
 * system unit, or another user's process, is never touched: the answer names the command its owner
 * would run instead.
 */
import { execa } from 'execa';
import type { SystemdUnit } from './recognition/proc-facts.ts';

export type UnitVerb = 'restart' | 'stop';

/**
 * What `systemctl` is given as a unit: systemd's own characters ([A-Za-z0-9:_.\\@-]), a service, and
 * never a leading "-" (it would be read as an option). 256 characters at most, as systemd allows.
 */
const SERVICE_NAME = /^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,246}\.service$/;

/** null when `name` is a unit `systemctl` may be given; otherwise why it is refused. */
export function unitNameProblem(name: string): string | null {
  if (SERVICE_NAME.test(name)) return null;
  return `the unit name ${JSON.stringify(name.slice(0, 80))} is not a plain systemd service name (letters, digits, ":_.\\@-", ending in ".service"): it is refused`;
}

/** The command a person would type for a unit VRAM Guard does not act on. */
export function commandToRun(unit: SystemdUnit, verb: UnitVerb): string {
  return unit.scope === 'system' ? `sudo systemctl ${verb} ${unit.name}` : `systemctl --user ${verb} ${unit.name}`;
}

export interface UnitProcess {
  pid: number;
  unit: SystemdUnit | null;
  uid: number | null;
}

/**
 * Whether VRAM Guard may `systemctl --user VERB` this process's unit: `{ ok: true, unit }`, or the
 * reason it is left alone with the command to run instead.
 */
export function unitAction(p: UnitProcess, verb: UnitVerb, myUid: number | null): { ok: true; unit: string } | { ok: false; reason: string } {
  const unit = p.unit;
  if (!unit)
    return {
      ok: false,
      reason: `PID ${p.pid} runs in no systemd unit and VRAM Guard did not start it: it is not touched (stop it where it was started, or \`kill ${p.pid}\`)`,
    };
  const bad = unitNameProblem(unit.name);
  if (bad) return { ok: false, reason: `PID ${p.pid}: ${bad}` };
  if (unit.scope === 'system') return { ok: false, reason: `${unit.name} is a system unit: VRAM Guard never touches it; run \`${commandToRun(unit, verb)}\`` };
  if (p.uid === null || myUid === null || p.uid !== myUid)
    return {
      ok: false,
      reason: `${unit.name} (PID ${p.pid}) belongs to ${p.uid === null ? 'a user VRAM Guard cannot read' : `another user (uid ${p.uid})`}: it is not touched; its owner would run \`${commandToRun(unit, verb)}\``,
    };
  return { ok: true, unit: unit.name };
}

export interface SystemctlOptions {
  /** The program (default "systemctl", found on PATH). */
  program?: string;
  timeoutMs?: number;
}

/** Runs `systemctl --user VERB UNIT` (the name checked again); throws with its last lines when it fails. */
export async function systemctlUser(verb: UnitVerb, unit: string, options: SystemctlOptions = {}): Promise<void> {
  const bad = unitNameProblem(unit);
  if (bad) throw new Error(bad);
  const program = options.program ?? 'systemctl';
  const r = await execa(program, ['--user', verb, '--', unit], { reject: false, timeout: options.timeoutMs ?? 60_000, stdin: 'ignore', all: true });
  if (r.failed) {
    const last = String(r.all ?? '')
      .trim()
      .split('\n')
      .slice(-3)
      .join(' | ');
    throw new Error(
      `systemctl --user ${verb} ${unit} failed (${r.exitCode !== undefined ? `exit code ${r.exitCode}` : r.shortMessage})${last ? `: ${last}` : ''}`,
    );
  }
}
