/**
 * Fault matrix: asking the task's llama-server for its build (`llama-server --version`, so the
 * estimate sizes that build). Every failure leaves the estimate at llama.cpp v0.5.0's and says why;
 * none blocks or delays a start past the time limit.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildNote, llamaServerBuild, runLlamaVersion, taskLlamaBuild } from '../../src/core/estimate/llama-build.ts';
import { isRunning } from '../../src/core/servers/process-tree.ts';
import { pollUntil } from '../helpers/servers.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-version-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function standIn(body: string): Promise<string> {
  const path = join(dir, `llama-server-${++n}`);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}
const env = { PATH: process.env.PATH };

test('llama-server --version prints garbage and exits 0 → no build, quoting what it printed; sized as v0.5.0, and the report says so', async () => {
  const r = await runLlamaVersion(await standIn("echo 'llama.cpp, the very latest'"), { env });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, /printed no llama\.cpp version line .*: "llama\.cpp, the very latest"/);
  assert.match(buildNote(r) ?? '', /^sized for llama\.cpp v0\.5\.0: the build of llama-server is not known \(/);
});

test('llama-server --version exits non-zero without a version line → its exit code and last lines in the reason', async () => {
  const r = await runLlamaVersion(await standIn("echo 'error: unknown argument: --version' >&2\nexit 1"), { env });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, /exited with code 1: "error: unknown argument: --version"/);
});

test('llama-server --version hangs (its child sleeps) → killed with its process group at the time limit, its sleeping child too', async () => {
  const pidFile = join(dir, 'sleeper.pid');
  const r = await runLlamaVersion(await standIn(`sleep 600 &\necho $! > ${pidFile}\nwait`), { env, timeoutMs: 500 });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, /gave no answer within 0\.5 s and was killed with its process group/);
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  await pollUntil(async () => !(await isRunning(pid)), 'the sleeping child to be gone', 5000);
});

test('llama-server --version floods its output → killed past 64 KiB, no build', async () => {
  const r = await runLlamaVersion(await standIn('yes version: garbage'), { env });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, /printed more than 64 KiB and was killed/);
});

test('the task names a llama-server that is not there → nothing is run, no build line', async () => {
  assert.equal(await taskLlamaBuild('llama-server-not-installed', { env: { PATH: dir }, cwd: dir }), null);
  const r = await llamaServerBuild(join(dir, 'gone'), { env });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, /cannot be read \(ENOENT\)/);
});
