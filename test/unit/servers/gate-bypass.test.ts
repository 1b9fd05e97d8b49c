/** "Start anyway": the next start of that task skips the VRAM gate, once. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GateBypass } from '../../../src/core/servers/gate-bypass.ts';

describe('gate bypass', () => {
  it('lets exactly one start of the named task skip the gate, with the refusal it overrides', () => {
    const b = new GateBypass();
    assert.equal(b.take('llama'), null);
    b.allowOnce('llama', '500 MiB free < 6144 MiB needed');
    assert.equal(b.take('ollama'), null, 'another task is not affected');
    assert.equal(b.take('llama'), '500 MiB free < 6144 MiB needed');
    assert.equal(b.take('llama'), null, 'the second start goes through the gate again');
  });

  it('drops a pending bypass when its start does not happen', () => {
    const b = new GateBypass();
    b.allowOnce('llama', 'short');
    b.cancel('llama');
    assert.equal(b.take('llama'), null);
  });
});
