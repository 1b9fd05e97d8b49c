/** anySignal: AbortSignal.any for Node 18 (the CLI's oldest Node). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anySignal } from '../../src/core/abort-signals.ts';

describe('anySignal', () => {
  it('aborts when any of its signals aborts, with that reason, and only once', () => {
    const a = new AbortController();
    const b = new AbortController();
    const any = anySignal([a.signal, b.signal]);
    let fired = 0;
    any.addEventListener('abort', () => fired++);
    assert.equal(any.aborted, false);
    b.abort(new Error('b went'));
    assert.equal(any.aborted, true);
    assert.equal((any.reason as Error).message, 'b went');
    a.abort(new Error('a went later'));
    assert.equal(fired, 1);
    assert.equal((any.reason as Error).message, 'b went');
  });

  it('is aborted at once when a signal already is', () => {
    const any = anySignal([new AbortController().signal, AbortSignal.abort('already')]);
    assert.equal(any.aborted, true);
    assert.equal(any.reason, 'already');
  });

  it('aborts on a timeout signal', async () => {
    const any = anySignal([AbortSignal.timeout(20)]);
    await new Promise((resolve) => any.addEventListener('abort', resolve));
    assert.equal((any.reason as DOMException).name, 'TimeoutError');
  });
});
