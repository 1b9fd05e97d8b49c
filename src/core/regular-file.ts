/**
 * Opening a file the user named (a model, a log to import) for reading, only when it is a regular
 * file. Opening a FIFO for reading waits for a writer — forever, and in one of libuv's few pool
 * threads — and a device or socket is no file to read either. So the path is opened without
 * blocking (O_NONBLOCK: on a regular file it changes nothing), and the opened handle's own type is
 * checked (fstat) before a byte is read: no window between a check and the open for the path to be
 * swapped. A symbolic link to a regular file is followed (model caches are made of them).
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/** What a path is when it is not a regular file, in words. */
function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Thrown for a path that is not a regular file; `code` is ENOTREG so callers can tell it from an I/O error. */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
  readonly path: string;
  constructor(path: string, kind: string) {
    super(`${path} is ${kind}, not a regular file`);
    this.name = 'NotRegularFileError';
    this.path = path;
  }
}

/** The path opened read-only, only if it is a regular file (else NotRegularFileError; I/O errors as thrown by open). */
export async function openRegularFile(path: string): Promise<FileHandle> {
  // O_NONBLOCK is 0 where it does not exist (Windows, which has no FIFOs at a path).
  const fh = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new NotRegularFileError(path, kindOf(st));
    return fh;
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}
