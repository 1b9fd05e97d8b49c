/** The CLI's side of where VRAM Guard keeps its state (src/core/state-dir.ts): resolved on disk. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveStateDir } from '../core/state-dir.ts';

const exists = (path: string) =>
  stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );

/** The history folder: `--dir` when given, else `<state folder>/history`. */
export async function historyFolder(given: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  return given ?? join(await resolveStateDir(exists, env), 'history');
}
