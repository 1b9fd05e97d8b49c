/**
 * The per-user folder that every VS Code window and the CLI share for what is only true while the
 * machine runs (the reservations, the GPU lock of exclusive tasks): $XDG_RUNTIME_DIR/vram-guard,
 * else <tmp>/vram-guard-<uid>. In a shared temp folder another local user could make that folder
 * first and fill it; so it is used — for reading as for writing — only when it is a real folder
 * (not a link) that belongs to this user and no one else can write to.
 */
import { lstat, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function runtimeFolder(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0, tmp: string = tmpdir()): string {
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, 'vram-guard') : join(tmp, `vram-guard-${uid}`);
}

export class ForeignFolderError extends Error {
  override name = 'ForeignFolderError';
}

/**
 * Checks that `dir` is a private folder of this user, making it (0700) when `create` and missing.
 * Resolves false when it is missing and not made; throws ForeignFolderError when it is not ours.
 */
export async function privateFolder(dir: string, create: boolean, what: string): Promise<boolean> {
  if (create) await mkdir(dir, { recursive: true, mode: 0o700 });
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const uid = process.getuid?.();
  // Windows has no owner or mode bits here (its temp folder is the user's own).
  const foreign = !st.isDirectory() || (uid !== undefined && (st.uid !== uid || (st.mode & 0o022) !== 0));
  if (foreign)
    throw new ForeignFolderError(
      `${dir} is not a private folder of this user (${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a folder' : 'not a folder'}, owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); ${what} are not shared through it`,
    );
  return true;
}
