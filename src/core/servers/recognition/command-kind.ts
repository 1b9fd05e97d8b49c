/** The kind of a command about to run (its program and arguments), from the same registry that names running processes. */
import { PROCESS_KINDS } from './kinds.ts';
import type { ProcessFacts } from './proc-facts.ts';
import type { ProcessKind } from './process-kind.ts';

export function recogniseCommand(argv: readonly string[], executable: string | null, kinds: readonly ProcessKind[] = PROCESS_KINDS): ProcessKind | null {
  const facts: ProcessFacts = {
    pid: 0,
    startTicks: null,
    ppid: null,
    comm: null,
    exe: executable,
    argv: [...argv],
    uid: null,
    unit: null,
    missing: [],
    gone: false,
  };
  for (const kind of kinds) {
    try {
      if (kind.recognise(facts)) return kind;
    } catch {
      // not this kind
    }
  }
  return null;
}
