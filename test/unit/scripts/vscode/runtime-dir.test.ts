/** The real-VS-Code runs give the extension a runtime folder of their own, where its reservations land. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { privateRuntimeDir } from '../../../../scripts/vscode/runtime-dir.ts';
import { reservationsPath } from '../../../../src/core/servers/reservations.ts';

test("a run's runtime folder is inside its state folder, private (0700), empty at each start, and holds the extension's reservations", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'vram-guard-runtime-dir-'));
  const dir = await privateRuntimeDir(stateDir);
  assert.equal(dir, join(stateDir, 'runtime'));
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  await writeFile(join(dir, 'left-by-the-last-run'), 'x');
  assert.equal(await privateRuntimeDir(stateDir), dir);
  assert.deepEqual(await readdir(dir), []);
  // What the extension host computes from the environment the server passes on.
  assert.equal(reservationsPath({ XDG_RUNTIME_DIR: dir }), join(stateDir, 'runtime', 'vram-guard', 'reservations.json'));
});
