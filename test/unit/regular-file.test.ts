/** Opening a named file only when it is a regular file: a FIFO, a folder refused by their type; a link to a file followed. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { NotRegularFileError, openRegularFile } from '../../src/core/regular-file.ts';

describe('openRegularFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vram-guard-regular-file-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('opens a regular file, also through a symbolic link', async () => {
    await writeFile(join(dir, 'model.gguf'), 'GGUF');
    await symlink(join(dir, 'model.gguf'), join(dir, 'link.gguf'));
    for (const name of ['model.gguf', 'link.gguf']) {
      const fh = await openRegularFile(join(dir, name));
      try {
        assert.equal((await fh.readFile('utf8')).toString(), 'GGUF');
      } finally {
        await fh.close();
      }
    }
  });

  it('refuses a FIFO at once, without waiting for a writer', { timeout: 10_000 }, async () => {
    const fifo = join(dir, 'pipe');
    await promisify(execFile)('mkfifo', [fifo]);
    await assert.rejects(
      openRegularFile(fifo),
      (err: unknown) => err instanceof NotRegularFileError && /pipe is a named pipe \(FIFO\), not a regular file$/.test(err.message),
    );
  });

  it('refuses a folder, and passes a missing file on as ENOENT', async () => {
    await mkdir(join(dir, 'folder'));
    await assert.rejects(openRegularFile(join(dir, 'folder')), /folder is a folder, not a regular file/);
    await assert.rejects(openRegularFile(join(dir, 'missing')), { code: 'ENOENT' });
  });
});
