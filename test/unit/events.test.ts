import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Emitter, reportListenerErrorsTo } from '../../src/core/events.ts';

describe('Emitter', () => {
  it('reports a failing listener with the event name and still calls the others', () => {
    const reported: string[] = [];
    const emitter = new Emitter<{ sample: [number] }>((event, err) => reported.push(`${event}: ${(err as Error).message}`));
    const seen: number[] = [];
    emitter.on('sample', () => {
      throw new Error('listener broke');
    });
    emitter.on('sample', (n) => seen.push(n));
    emitter.emit('sample', 7);
    assert.deepEqual(seen, [7]);
    assert.deepEqual(reported, ['sample: listener broke']);
  });

  it('stops calling a listener once its unsubscriber ran', () => {
    const emitter = new Emitter<{ tick: [] }>();
    let calls = 0;
    const off = emitter.on('tick', () => calls++);
    emitter.emit('tick');
    off();
    emitter.emit('tick');
    assert.equal(calls, 1);
  });

  it('reports to the reporter in force when the listener fails, and to the previous one once that is put back', () => {
    const emitter = new Emitter<{ status: [] }>();
    emitter.on('status', () => {
      throw new Error('status bar gone');
    });
    const outer: string[] = [];
    const inner: string[] = [];
    const offOuter = reportListenerErrorsTo((event, err) => outer.push(`${event}: ${(err as Error).message}`));
    const offInner = reportListenerErrorsTo((event, err) => inner.push(`${event}: ${(err as Error).message}`));
    emitter.emit('status');
    offInner();
    emitter.emit('status');
    offOuter();
    assert.deepEqual(inner, ['status: status bar gone']);
    assert.deepEqual(outer, ['status: status bar gone']);
  });
});
