/**
 * Where a command would be run from: a path as given, or the first executable of that name on
 * PATH — so that a command that does not exist is told apart (exit 127, as a shell does) from one
 * that cannot be run (126), before anything is started.
 */
import { access, constants, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export type CommandPath = { ok: true; path: string } | { ok: false; code: 126 | 127; error: string };

async function executable(path: string): Promise<'yes' | 'missing' | 'not-executable'> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return 'not-executable';
    await access(path, constants.X_OK);
    return 'yes';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'missing' : 'not-executable';
  }
}

export async function resolveCommand(command: string, pathVar: string | undefined, cwd: string = process.cwd()): Promise<CommandPath> {
  if (!command) return { ok: false, code: 127, error: 'the command is empty' };
  if (command.includes('/')) {
    const path = command.startsWith('/') ? command : join(cwd, command);
    const e = await executable(path);
    if (e === 'yes') return { ok: true, path };
    return e === 'missing'
      ? { ok: false, code: 127, error: `"${command}" does not exist` }
      : { ok: false, code: 126, error: `"${command}" is not an executable file (check its permissions: chmod +x)` };
  }
  const dirs = (pathVar ?? '').split(delimiter).filter(Boolean);
  let notExecutable: string | null = null;
  for (const dir of dirs) {
    const path = join(dir, command);
    const e = await executable(path);
    if (e === 'yes') return { ok: true, path };
    if (e === 'not-executable' && !notExecutable) notExecutable = path;
  }
  if (notExecutable) return { ok: false, code: 126, error: `"${command}" was found at ${notExecutable} but is not executable` };
  return { ok: false, code: 127, error: `"${command}" was not found on PATH (${dirs.length ? dirs.join(delimiter) : 'PATH is empty'})` };
}
