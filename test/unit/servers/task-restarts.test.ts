/**
 * A task's restart policy with real processes (the llama-server emulator) and a fake clock for the
 * backoff: a server killed by a signal is started again after 1 s, then 2 s; the VRAM gate is
 * checked before each restart (a full GPU is refused, and tried again later); a clean exit or a
 * stop that was asked for is never restarted; over the hourly limit it gives up, saying so.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ManagedServer } from '../../../src/core/servers/managed-server.ts';
import { TaskRestarts } from '../../../src/core/servers/task-restarts.ts';
import { serverCards } from '../../../src/vscode/dashboard/dashboard-data.ts';
import { serverLifeLines } from '../../../webview/panels-model.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { pollUntil } from '../../helpers/servers.ts';

let h: ServerHarness;
before(async () => {
  h = await ServerHarness.create();
});
after(async () => {
  await h?.dispose();
});

const roomy = () => h.fake.write({ devices: [baseGpu({ total: 8 * GiB, used: 300 * MiB, processes: [] })] });
const ARGS = ['-m', 'model.gguf', '-c', '2048', '--weights-mib', '600', '--kv-mib-per-1k', '64'];

async function scene(name: string, definition: Record<string, unknown> = {}) {
  await roomy();
  const server = await h.task(name, 'llama-server', ARGS, { needs: '1GiB', restart: 'on-failure', ...definition });
  const clock = new FakeClock(1_800_000_000_000);
  const said: string[] = [];
  let gaveUp = 0;
  const restarts = new TaskRestarts(server, { clock, say: (m) => said.push(m), onGiveUp: () => gaveUp++ });
  assert.ok((await server.start()).ok);
  return { server, clock, said, restarts, gaveUp: () => gaveUp };
}

/** SIGKILL the server's process, as the OOM killer would, and wait for the exit to be seen. */
async function kill(server: ManagedServer): Promise<void> {
  const pid = server.pid!;
  process.kill(-pid, 'SIGKILL');
  await pollUntil(() => server.state === 'exited', 'the exit to be seen', 10_000);
}

describe('a task\'s restart policy ("restart": "on-failure")', () => {
  it('restarts after 1 s, then 2 s; counts restarts and keeps the last failure', async () => {
    const s = await scene('crashy');
    try {
      const first = s.server.pid;
      await kill(s.server);
      assert.ok(s.restarts.pending);
      assert.match(s.said.at(-1)!, /^"crashy" was ended by SIGKILL; restarting in 1(\.0)? s/);
      assert.equal(s.server.lastFailure?.exit.signal, 'SIGKILL');
      await s.clock.advance(999);
      assert.equal(s.server.state, 'exited', 'not before the backoff');
      await s.clock.advance(1);
      await pollUntil(() => s.server.state === 'ready', 'the restart', 15_000);
      assert.notEqual(s.server.pid, first);
      assert.equal(s.server.restarts, 1);
      assert.ok(s.server.readyAt !== null);
      await kill(s.server);
      assert.match(s.said.at(-1)!, /restarting in 2(\.0)? s/);
      await s.clock.advance(2000);
      await pollUntil(() => s.server.state === 'ready', 'the second restart', 15_000);
      assert.equal(s.server.restarts, 2);
      assert.equal(s.gaveUp(), 0);

      // The dashboard's card: up since it became ready, two restarts under its policy, the last exit.
      const [card] = serverCards([s.server], [], 8);
      assert.equal(card?.restarts, 2);
      assert.equal(card?.restartPolicy, 'on-failure, at most 10 an hour');
      assert.equal(card?.lastExit?.signal, 'SIGKILL');
      assert.equal(card?.readySince, s.server.readyAt);
      const life = serverLifeLines(card!, card!.readySince! + 9 * 3_600_000 + 5 * 60_000);
      assert.match(life[0]!, /^up 9 h 5 m since \d\d:\d\d:\d\d, past the 8 h target$/);
      assert.equal(life[1], 'restarts: 2 (restart on-failure, at most 10 an hour)');
      assert.match(life[2]!, /^last exit: signal SIGKILL at /);
      assert.match(life.at(-1)!, /^ {2}\S/, 'its last lines follow');
    } finally {
      s.restarts.dispose();
      await s.server.stop('test finished');
    }
  });

  it('checks the VRAM gate again first: a full GPU is refused, and tried again after a longer backoff', async () => {
    const s = await scene('gated');
    try {
      await kill(s.server);
      // Something else took the card meanwhile.
      await h.fake.write({ devices: [baseGpu({ total: 8 * GiB, used: 7900 * MiB, processes: [] })] });
      await s.clock.advance(1000);
      await pollUntil(() => s.said.some((m) => m.includes('was refused by the VRAM gate')), 'the refusal', 15_000);
      assert.equal(s.server.state, 'refused');
      assert.match(s.said.at(-1)!, /"gated" was refused by the VRAM gate; restarting in 2(\.0)? s/);
      await roomy();
      await s.clock.advance(2000);
      await pollUntil(() => s.server.state === 'ready', 'the restart once there is room', 15_000);
    } finally {
      s.restarts.dispose();
      await s.server.stop('test finished');
    }
  });

  it('over the hourly limit: not restarted, and the task is told to end', async () => {
    const s = await scene('limited', { maxRestartsPerHour: 1 });
    try {
      await kill(s.server);
      await s.clock.advance(1000);
      await pollUntil(() => s.server.state === 'ready', 'the one restart', 15_000);
      await kill(s.server);
      assert.equal(s.restarts.pending, false);
      assert.equal(s.gaveUp(), 1);
      assert.match(s.said.at(-1)!, /^"limited" was ended by SIGKILL; not restarted: 1 restarts in the last hour/);
    } finally {
      s.restarts.dispose();
      await s.server.stop('test finished');
    }
  });

  it('a stop that was asked for is never restarted', async () => {
    const s = await scene('stopped');
    await s.server.stop('the user closed the terminal');
    assert.equal(s.restarts.pending, false);
    await s.clock.advance(60_000);
    assert.equal(s.server.state, 'stopped');
    assert.deepEqual(s.said, []);
    s.restarts.dispose();
  });
});
