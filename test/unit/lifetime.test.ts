import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lifetime } from '../../src/core/lifetime.ts';

describe('Lifetime', () => {
  it('stops a disposable, an off-function and an async close, last added first, each once', async () => {
    const stopped: string[] = [];
    const lifetime = new Lifetime();
    lifetime.add({ dispose: () => stopped.push('status bar') });
    lifetime.add(() => stopped.push('listener'));
    lifetime.add({
      close: async () => {
        await Promise.resolve();
        stopped.push('exporter');
      },
    });
    await lifetime.dispose();
    await lifetime.dispose();
    assert.deepEqual(stopped, ['exporter', 'listener', 'status bar']);
  });

  it('waits for an async close before stopping what was added before it', async () => {
    const stopped: string[] = [];
    const lifetime = new Lifetime();
    lifetime.add(() => stopped.push('watcher'));
    let release = () => {};
    lifetime.add({
      close: () =>
        new Promise<void>((resolve) => {
          release = () => {
            stopped.push('servers');
            resolve();
          };
        }),
    });
    const ending = lifetime.dispose();
    await Promise.resolve();
    assert.deepEqual(stopped, [], 'the watcher waits while the servers are stopping');
    release();
    await ending;
    assert.deepEqual(stopped, ['servers', 'watcher']);
  });

  it('returns the same promise to a second dispose called while the first runs', () => {
    const lifetime = new Lifetime();
    let calls = 0;
    lifetime.add({ close: async () => calls++ });
    const first = lifetime.dispose();
    assert.equal(lifetime.dispose(), first);
    return first.then(() => assert.equal(calls, 1));
  });

  it('reports a failure to stop and still stops the rest', async () => {
    const reported: string[] = [];
    const stopped: string[] = [];
    const lifetime = new Lifetime((m) => reported.push(m));
    lifetime.add(() => stopped.push('log'));
    lifetime.add({
      dispose: () => {
        throw new Error('already gone');
      },
    });
    lifetime.add({ close: () => Promise.reject(new Error('port busy')) });
    await lifetime.dispose();
    assert.deepEqual(stopped, ['log']);
    assert.deepEqual(reported, ['stopping failed: port busy', 'stopping failed: already gone']);
  });

  it('stops at once what is added after dispose began', async () => {
    const lifetime = new Lifetime();
    await lifetime.dispose();
    let stopped = false;
    lifetime.add(() => {
      stopped = true;
    });
    await Promise.resolve();
    assert.equal(stopped, true);
    assert.equal(lifetime.disposed, true);
  });
});
