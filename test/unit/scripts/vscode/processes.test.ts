/** The process tooling for the real-VS-Code runs: groups are stopped by PID, children included. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { descendantsOf, raceDeadline, startGroup, stopGroup, waitForHttp } from '../../../../scripts/vscode/processes.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('process tooling', () => {
  it('stops a process, its children and a child that left the group', async () => {
    // sh starts a sleep in the group and one in a new session (as file watchers sometimes do).
    const started = startGroup('tree', 'sh', ['-c', 'sleep 60 & setsid sleep 61 & wait']);
    let kids: number[] = [];
    const deadline = Date.now() + 5000;
    while (kids.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      kids = descendantsOf(started.pid);
    }
    assert.ok(kids.length >= 2, `children: ${kids.join(', ')}`);
    await stopGroup(started, 2000);
    for (const pid of [started.pid, ...kids]) assert.equal(alive(pid), false, `pid ${pid} still runs`);
  });

  it('puts deadlines on waits', async () => {
    assert.equal(await raceDeadline(new Promise(() => {}), 20), 'timeout');
    assert.equal(await raceDeadline(Promise.resolve(7), 1000), 7);
    await assert.rejects(waitForHttp('http://127.0.0.1:9/', 300), /did not answer within/);
  });
});
