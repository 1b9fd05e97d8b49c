import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Emitter } from '../../src/core/events.ts';

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
});
