/**
 * A process group whose only member has exited but is not yet reaped (a zombie) has ended: stopping
 * it must not wait out the stop timeout. Real processes: `setsid` puts a child in a group of its own;
 * the child is killed once its parent has exec'd into `sleep`, which never reaps it, as PID 1 in a
 * container may not for a while.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { groupAlive, groupRunning, isRunning } from '../../../src/core/servers/process-tree.ts';
import { pollUntil } from '../../helpers/servers.ts';

test('a group whose only member is a zombie is not running, though signal 0 still reaches it; a group with a live member is', async (t) => {
  const parent = spawn('sh', ['-c', 'setsid sleep 100 & echo $!; exec sleep 100'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => parent.kill('SIGKILL'));
  let out = '';
  parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const zombie = Number((await pollUntil(() => /^(\d+)\n/.exec(out), 'the child to be started'))[1]);
  // The child is ended only once the shell has become `sleep`, which never reaps it: a shell still
  // running could reap it first, and there would be no zombie to look at.
  await pollUntil(async () => (await readFile(`/proc/${parent.pid}/comm`, 'utf8').catch(() => '')).trim() === 'sleep', 'the shell to exec sleep');
  process.kill(zombie, 'SIGKILL');
  await pollUntil(async () => !(await isRunning(zombie)), 'the child to exit');
  assert.equal(groupAlive(zombie), true, 'signal 0 reaches the group while its zombie is not reaped');
  assert.equal(await groupRunning(zombie), false);

  const live = spawn('sleep', ['100'], { detached: true, stdio: 'ignore' });
  t.after(() => live.kill('SIGKILL'));
  assert.equal(await groupRunning(live.pid!), true);
});
