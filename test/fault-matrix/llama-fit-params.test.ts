/**
 * Fault matrix: the user's llama-fit-params. Each test puts a stand-in llama-fit-params (a shell
 * script that misbehaves in one way) beside a stand-in llama-server in a private folder, and asks it
 * through the same code the gate uses: found beside the server, run bounded in its own process group,
 * its answer read. Each ending is one sentence; nothing is left running.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { askLlamaFit, findFitParams } from '../../src/core/estimate/llama-fit-params.ts';
import { isRunning } from '../../src/core/servers/process-tree.ts';
import { pollUntil } from '../helpers/servers.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-fit-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let folders = 0;
/** A folder with a stand-in llama-server and a llama-fit-params running `body`; returns the folder. */
async function standIn(body: string): Promise<string> {
  const folder = join(dir, `bin-${++folders}`);
  await mkdir(folder);
  await writeFile(join(folder, 'llama-server'), '#!/bin/sh\nexit 0\n');
  await writeFile(join(folder, 'llama-fit-params'), `#!/bin/sh\n${body}\n`);
  await chmod(join(folder, 'llama-server'), 0o755);
  await chmod(join(folder, 'llama-fit-params'), 0o755);
  return folder;
}

async function ask(folder: string, timeoutMs = 20_000) {
  const program = await findFitParams(join(folder, 'llama-server'), '', folder);
  assert.equal(program, join(folder, 'llama-fit-params'));
  return askLlamaFit(program!, ['-m', 'model.gguf', '-c', '8192'], { env: { PATH: process.env.PATH }, cwd: folder, timeoutMs });
}

test('llama-fit-params hangs (its child sleeps) → killed with its process group at the time limit, its sleeping child too', async () => {
  const pidFile = join(dir, 'sleeper.pid');
  const folder = await standIn(`sleep 600 &\necho $! > ${pidFile}\nwait`);
  const r = await ask(folder, 500);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /llama-fit-params gave no answer within 0\.5 s and was killed with its process group$/);
  const sleeper = Number(await readFile(pidFile, 'utf8'));
  await pollUntil(async () => !(await isRunning(sleeper)), 'the sleeping child to be gone', 5000);
});

test('llama-fit-params floods its output → killed past 64 KiB, its output dropped', async () => {
  const r = await ask(await standIn('yes -- "-c 4096 -ngl 99"'));
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /printed more than 64 KiB and was killed with its process group$/);
});

test('llama-fit-params exits non-zero → its exit code and last lines in the reason', async () => {
  const r = await ask(
    await standIn(
      'echo "common_fit_params: n_gpu_layers already set by user to 99, abort" >&2\necho "llama_fit_params: failed to fit CLI arguments to free memory, exiting..." >&2\nexit 1',
    ),
  );
  assert.equal(r.ok, false);
  if (!r.ok)
    assert.equal(
      r.reason,
      `${r.program} exited with code 1: "common_fit_params: n_gpu_layers already set by user to 99, abort / llama_fit_params: failed to fit CLI arguments to free memory, exiting..."`,
    );
});

test('llama-fit-params prints garbage and exits 0 → no answer, quoting what it printed', async () => {
  const r = await ask(await standIn('echo "-c lots -ngl many"\necho "\\033[31mhello\\033[0m"'));
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /printed no answer of the form "-c N -ngl N": "-c lots -ngl many \/ /);
});

test('no llama-fit-params beside llama-server nor on PATH → nothing is asked, no check is shown', async () => {
  const folder = join(dir, 'bare');
  await mkdir(folder);
  await writeFile(join(folder, 'llama-server'), '#!/bin/sh\nexit 0\n');
  await chmod(join(folder, 'llama-server'), 0o755);
  assert.equal(await findFitParams(join(folder, 'llama-server'), folder, folder), null);
  // Named but gone between the search and the run: a reason, not a throw.
  const r = await askLlamaFit(join(folder, 'llama-fit-params'), [], { env: {}, timeoutMs: 5000 });
  assert.deepEqual(r, { ok: false, program: join(folder, 'llama-fit-params'), reason: `${join(folder, 'llama-fit-params')} could not be started (ENOENT)` });
});
