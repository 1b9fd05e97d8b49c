/**
 * What a person would do for a `reduceContext` or `moveToCpu` step on a server VRAM Guard did not
 * start. Those steps restart a server with other arguments, which VRAM Guard does only for the
 * servers it starts (their command line is the task's); for any other it changes nothing and kills
 * nothing, and the step's reason says, for that kind, which option to change and which command
 * restarts it: `systemctl --user restart UNIT` for a user unit, `sudo systemctl restart UNIT` for a
 * system one, or "where it was started" for a process in no unit.
 */
import { serverKindEntry } from '../servers/kinds/index.ts';
import type { ProcessRecognition } from '../servers/recognition/recogniser.ts';

export type ArgumentStep = 'reduceContext' | 'moveToCpu';

/** "systemctl --user restart llm.service", or where a process in no unit is restarted. */
function restartCommand(r: ProcessRecognition): string {
  if (!r.unit) return `restart it where it was started (PID ${r.pid})`;
  const edit = r.unit.scope === 'system' ? `sudo systemctl edit ${r.unit.name}` : `systemctl --user edit ${r.unit.name}`;
  const restart = r.unit.scope === 'system' ? `sudo systemctl restart ${r.unit.name}` : `systemctl --user restart ${r.unit.name}`;
  return `change it with \`${edit}\`, then run \`${restart}\``;
}

/** The step's reason for one server started outside VRAM Guard: nothing done, and what the user would run. */
export function argumentStepAdvice(action: ArgumentStep, r: ProcessRecognition, name: string): string {
  const kind = r.serverKind ?? r.kind;
  // What to change, by kind: the options are the servers' own, in each kind's file.
  const change = serverKindEntry(kind)?.fallback.outsideAdvice?.[action];
  const what = action === 'reduceContext' ? 'a smaller context' : 'the CPU';
  if (!change)
    return `${name} was started outside VRAM Guard, which cannot move a ${kind} to ${what}: nothing was changed (an unloadModel, restartServer or stopServer step can act on it)`;
  return `${name} was started outside VRAM Guard, which does not change its arguments: nothing was changed. To move it to ${what}, ${change}; ${restartCommand(r)}`;
}
