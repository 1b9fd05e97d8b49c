/** Validation of `vram-guard` task definitions: defaults per server kind, and one sentence per problem. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateTaskDefinition } from '../../../src/core/servers/task-definition.ts';
import { GiB, MiB } from '../../../src/core/units.ts';

describe('task definition', () => {
  it('fills the defaults of each server kind', () => {
    const v = validateTaskDefinition(
      { type: 'vram-guard', server: 'llama-server', args: ['-m', 'm.gguf', '-c', '8192'], needs: '6GiB', fallback: { contextSizes: [2048, 8192, 4096] } },
      'llama',
    );
    assert.ok(v.ok);
    assert.deepEqual(v.task.command, ['llama-server']);
    assert.equal(v.task.healthUrl, 'http://127.0.0.1:8080/health');
    assert.equal(v.task.needsBytes, 6 * GiB);
    assert.equal(v.task.fallback.contextArg, '-c');
    assert.deepEqual(v.task.fallback.contextSizes, [8192, 4096, 2048]);

    const o = validateTaskDefinition({ type: 'vram-guard', server: 'ollama', port: 11500, needs: '3GiB' }, 'ollama');
    assert.ok(o.ok);
    assert.deepEqual(o.task.command, ['ollama', 'serve']);
    assert.equal(o.task.env.OLLAMA_HOST, '127.0.0.1:11500');
    assert.equal(o.task.healthUrl, 'http://127.0.0.1:11500/');

    const w = validateTaskDefinition({ type: 'vram-guard', server: 'whisper-cpp', needs: '1GiB' }, 'whisper');
    assert.ok(w.ok);
    assert.deepEqual(w.task.fallback.cpuArgs, ['-ng']);
    const f = validateTaskDefinition({ type: 'vram-guard', server: 'faster-whisper', command: ['speaches'], needs: '1GiB' }, 'fw');
    assert.ok(f.ok);
    assert.equal(f.task.fallback.cpuEnv.WHISPER__INFERENCE_DEVICE, 'cpu');
  });

  it('refuses a shell string and says how to write it instead', () => {
    const v = validateTaskDefinition({ type: 'vram-guard', server: 'command', command: 'llama-server -m model.gguf', args: '-c 4096' }, 'bad');
    assert.equal(v.ok, false);
    if (v.ok) return;
    assert.equal(v.problems.length, 2);
    assert.match(v.problems[0]!, /"command" must be an array.*never uses/);
    assert.match(v.problems[1]!, /"args" must be an array of strings, one per argument/);
  });

  it('reports every problem at once, naming the task and the field', () => {
    const v = validateTaskDefinition(
      {
        type: 'vram-guard',
        server: 'gpt',
        port: 70000,
        needs: '80%',
        healthUrl: 'ftp://x',
        env: { A: 1 },
        fallback: { contextSizes: 'small', steps: [{ action: 'explode' }] },
      },
      'mine',
    );
    assert.equal(v.ok, false);
    if (v.ok) return;
    const text = v.problems.join('\n');
    for (const re of [
      /"server" must be one of llama-server, ollama, vllm, whisper-cpp, faster-whisper, command/,
      /"port" must be a port number/,
      /"needs" must be a size/,
      /"healthUrl" must be an http:\/\/ URL/,
      /"env.A" must be a string/,
      /"fallback.contextSizes"/,
      /"fallback.steps"\[0\].*"action" must be one of/,
    ]) {
      assert.match(text, re);
    }
    assert.ok(v.problems.every((p) => p.startsWith('Task "mine"')));
  });

  it('warns when the gate cannot know what a server needs', () => {
    const v = validateTaskDefinition({ type: 'vram-guard', server: 'vllm', args: ['serve', 'm'] }, 'v');
    assert.ok(v.ok);
    assert.match(v.warnings[0]!, /neither "needs" nor "model"/);
    const llama = validateTaskDefinition({ type: 'vram-guard', server: 'llama-server', args: ['-m', 'm.gguf', '-c', '8192'] }, 'l');
    assert.ok(llama.ok);
    assert.deepEqual(llama.warnings, [], "llama-server's -m is what the gate estimates from");
  });

  it('refuses llama-server arguments llama-server would refuse, naming the flag', () => {
    const v = validateTaskDefinition({ type: 'vram-guard', server: 'llama-server', args: ['-m', 'm.gguf', '-fa', 'sometimes'] }, 'l');
    assert.equal(v.ok, false);
    assert.match(
      (v as { problems: string[] }).problems[0]!,
      /^Task "l": The llama-server arguments cannot be read: -fa must be on, off or auto, not "sometimes"\.$/,
    );
  });
});

describe('simple VRAM gate', () => {
  it('passes with room, and refuses with the numbers otherwise', async () => {
    const { simpleGate } = await import('../../../src/core/servers/vram-gate.ts');
    const { emptyDevice } = await import('../../../src/core/gpu/types.ts');
    const d = emptyDevice(0);
    d.memory = { total: 8 * GiB, used: 6 * GiB, free: 2 * GiB, reserved: 0 };
    const reading = {
      ok: true as const,
      sample: { source: 'nvml' as const, timestamp: 0, driverVersion: null, sourceVersion: null, devices: [d] },
      description: 'test',
    };
    const gate = simpleGate(256 * MiB);
    const base = { taskName: 'llama', gpu: 0, reading, modelPath: null, contextLength: null };
    assert.equal((await gate({ ...base, needsBytes: 1 * GiB })).status, 'pass');
    const fail = await gate({ ...base, needsBytes: 2 * GiB });
    assert.equal(fail.status, 'fail');
    assert.match(
      fail.summary,
      /^"llama" was not started\. GPU 0 has 2048 MiB free of 8192 MiB; "llama" needs 2048 MiB \+ 256 MiB margin = 2304 MiB, 256 MiB more than is free/,
    );
    assert.equal((await gate({ ...base, reading: { ok: false, reason: 'no NVML' }, needsBytes: 1 })).status, 'unavailable');
  });
});
