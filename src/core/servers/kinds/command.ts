/**
 * A plain command: any program the task names. It has no defaults, no API VRAM Guard reads, no
 * usual request; it is sized only from the task's "needs" (or its model file), and its fallback is
 * what every task has (a restart with the task's own `fallback.contextArg` or `cpuArgs`, a stop).
 */
import type { ServerKindEntry } from './kind-entry.ts';

declare module './server-kind.ts' {
  interface ServerKinds {
    command: true;
  }
}

export const commandKind: ServerKindEntry = {
  id: 'command',
  label: 'command',
  family: null,
  defaults: { command: null, port: null, healthPath: null, contextArg: null, cpuArgs: [], cpuEnv: {} },
  adapter: null,
  processes: [],
  fallback: {},
  sizing: null,
  spike: null,
};
