/**
 * A runtime folder of one test run's own. The extension keeps the machine's shared reservations
 * under `$XDG_RUNTIME_DIR/vram-guard`, so a VS Code test run that inherits the user's
 * XDG_RUNTIME_DIR would see the reservations of other runs and of the user's own servers, and
 * leave its own behind for them. The runners point XDG_RUNTIME_DIR of the server (and so of the
 * extension host) here instead.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** `<stateDir>/runtime`, empty and private to the user (0700, as XDG_RUNTIME_DIR must be). */
export async function privateRuntimeDir(stateDir: string): Promise<string> {
  const dir = join(stateDir, 'runtime');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}
