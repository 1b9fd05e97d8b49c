/**
 * Fault matrix: building the real llama-server for the tests (`npm run setup:llama`) on a machine
 * without the compilers: the build is not attempted, and the message names what to install.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers/fake-nvml.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-build-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('cmake, g++ and make not on PATH → the llama-server build is not attempted; the message names the packages to install', async () => {
  const llamaDir = join(dir, 'llama');
  await mkdir(join(llamaDir, 'src'), { recursive: true });
  await writeFile(join(llamaDir, 'src', 'CMakeLists.txt'), '');
  const script = `import(${JSON.stringify(join(repoRoot, 'scripts', 'llama', 'server-build.ts'))}).then((m) => m.buildLlamaServer(() => {})).then(() => console.log('built'), (e) => console.log(e.message))`;
  const empty = join(dir, 'empty-path');
  await mkdir(empty);
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: empty, VRAM_GUARD_LLAMA_DIR: llamaDir },
  });
  assert.equal(stdout.trim(), 'building llama-server needs cmake, g++, make, not found on PATH (Debian: sudo apt-get install cmake g++ make)');
});
