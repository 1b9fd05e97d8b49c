/**
 * Where VRAM Guard keeps what outlives a process (the history, measured footprints), shared by the
 * extension and the CLI. The extension uses its global storage folder and tells the CLI in its
 * terminals and tasks through `VRAM_GUARD_STATE_DIR`; a CLI started elsewhere looks in the global
 * storage folders of the VS Code flavours it knows, newest first, and falls back to
 * `$XDG_STATE_HOME/vram-guard` (or `~/.local/state/vram-guard`).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The environment variable the extension sets in integrated terminals and tasks. */
export const STATE_DIR_ENV = 'VRAM_GUARD_STATE_DIR';

/** The extension's identifier: its global storage folder is named after it. */
export const EXTENSION_ID = 'vram-guard.vram-guard';

/** Global storage folders of the VS Code flavours, in the order a CLI outside VS Code tries them. */
export function globalStorageCandidates(home: string = homedir(), env: NodeJS.ProcessEnv = process.env): string[] {
  const config = env.XDG_CONFIG_HOME || join(home, '.config');
  const data = env.XDG_DATA_HOME || join(home, '.local', 'share');
  return [
    join(config, 'Code', 'User', 'globalStorage', EXTENSION_ID),
    join(home, '.vscode-server', 'data', 'User', 'globalStorage', EXTENSION_ID),
    join(config, 'Code - Insiders', 'User', 'globalStorage', EXTENSION_ID),
    join(config, 'VSCodium', 'User', 'globalStorage', EXTENSION_ID),
    join(data, 'code-server', 'User', 'globalStorage', EXTENSION_ID),
  ];
}

/** The folder of VRAM Guard's own state when no VS Code global storage exists. */
export function fallbackStateDir(home: string = homedir(), env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(home, '.local', 'state'), 'vram-guard');
}

/**
 * The state folder for the CLI: `VRAM_GUARD_STATE_DIR` when set, else the first candidate that
 * exists (`exists` is injected so this stays free of file I/O), else the fallback.
 */
export async function resolveStateDir(
  exists: (path: string) => Promise<boolean>,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): Promise<string> {
  const given = env[STATE_DIR_ENV];
  if (given) return given;
  for (const candidate of globalStorageCandidates(home, env)) {
    if (await exists(candidate)) return candidate;
  }
  return fallbackStateDir(home, env);
}
