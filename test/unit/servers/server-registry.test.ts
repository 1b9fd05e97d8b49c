/**
 * Servers a budget spike left running, handed to the registry: named among the owners (so the
 * ledger attributes their VRAM), found by name, stopped with the others, and dropped once they exit.
 * The server is the emulated Ollama as a real child process, started by the spike's own launcher;
 * it is killed by PID in `after`, also when a test fails.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { processLauncher } from '../../../src/core/checks/spike-launcher.ts';
import type { SpikeServer } from '../../../src/core/checks/spike-spec.ts';
import { ServerRegistry } from '../../../src/core/servers/server-registry.ts';
import { serverViews } from '../../../src/core/servers/server-view.ts';
import { serverBaseUrl, validateTaskDefinition } from '../../../src/core/servers/task-definition.ts';
import { alive, emulatorCommand, freePort, PidRegister, pollUntil } from '../../helpers/servers.ts';

async function ollamaServer(name: string): Promise<SpikeServer> {
  const port = await freePort();
  const v = validateTaskDefinition(
    { type: 'vram-guard', server: 'ollama', command: emulatorCommand('ollama'), args: ['--port', String(port)], port, startTimeoutSeconds: 15 },
    name,
  );
  if (!v.ok) throw new Error(v.problems.join(' '));
  return { name, task: v.task, baseUrl: serverBaseUrl(v.task), load: { kind: 'none' } };
}

describe('servers a spike left running, adopted by the registry', () => {
  const pids = new PidRegister();
  after(() => pids.killAll());

  it('are owners in the ledger, found by name, and stopped by stopAll', async () => {
    const server = await ollamaServer('ollama (spike)');
    const r = await processLauncher({ stopTimeoutMs: 2000, healthIntervalMs: 25 }).start(server, new AbortController().signal);
    assert.ok(r.ok, r.ok ? '' : r.message);
    const handle = r.server;
    pids.add(handle.pid);
    const registry = new ServerRegistry();
    let changes = 0;
    registry.on('changed', () => changes++);
    registry.adopt({ name: server.name, task: server.task, pid: handle.pid, stop: () => handle.stop(), exited: () => handle.exited() });
    assert.equal(changes, 1);
    assert.deepEqual(registry.owners(), [{ name: 'ollama (spike)', kind: 'ollama', rootPid: handle.pid, baseUrl: server.baseUrl, gpu: 0 }]);
    assert.deepEqual(registry.running('ollama (spike)'), { pid: handle.pid, adopted: true });
    assert.deepEqual(serverViews(registry), [
      { name: 'ollama (spike)', kind: 'ollama', origin: 'spike', state: 'ready', pid: handle.pid, baseUrl: server.baseUrl },
    ]);
    await registry.stopAll('test finished');
    assert.equal(alive(handle.pid), false, 'the adopted server still runs after stopAll');
    assert.deepEqual(registry.owners(), []);
    assert.equal(registry.running('ollama (spike)'), null);
  });

  it('are dropped once they exit by themselves, and killAllNow kills what runs', async () => {
    const registry = new ServerRegistry();
    const launcher = processLauncher({ stopTimeoutMs: 2000, healthIntervalMs: 25 });
    const a = await launcher.start(await ollamaServer('a'), new AbortController().signal);
    const b = await launcher.start(await ollamaServer('b'), new AbortController().signal);
    assert.ok(a.ok && b.ok);
    pids.add(a.server.pid);
    pids.add(b.server.pid);
    for (const [name, s] of [
      ['a', a.server],
      ['b', b.server],
    ] as const) {
      registry.adopt({ name, task: (await ollamaServer(name)).task, pid: s.pid, stop: () => s.stop(), exited: () => s.exited() });
    }
    process.kill(a.server.pid, 'SIGTERM');
    await pollUntil(() => a.server.exited(), '"a" to exit', 5000);
    assert.deepEqual(
      registry.owners().map((o) => o.name),
      ['b'],
    );
    registry.killAllNow();
    await pollUntil(() => b.server.exited(), '"b" to be killed', 5000);
    assert.deepEqual(registry.owners(), []);
  });

  it('can be removed without being stopped', async () => {
    const registry = new ServerRegistry();
    const remove = registry.adopt({
      name: 'x',
      task: (await ollamaServer('x')).task,
      pid: 999_999,
      stop: async () => assert.fail('not stopped'),
      exited: () => false,
    });
    remove();
    await registry.stopAll();
    assert.deepEqual(registry.owners(), []);
  });
});
