/** The adapter for each server kind, from the registry of kinds (a plain `command` task has none). */
import { serverKindEntry, type ServerKind } from '../kinds/index.ts';
import type { ServerAdapter } from './types.ts';

export function adapterFor(kind: ServerKind | 'task'): ServerAdapter | null {
  return serverKindEntry(kind)?.adapter ?? null;
}
