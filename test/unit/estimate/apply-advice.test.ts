/**
 * Applying fit advice to a task: the suggestion's flags replace the same options in the task's
 * arguments (whatever their spelling), and the arguments that result, sized again by the real
 * estimate, fit the budget the advice was made for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argsWithFlags, envWithVariables, taskChange } from '../../../src/core/estimate/apply-advice.ts';
import type { VramEstimate } from '../../../src/core/estimate/estimate-types.ts';
import { fitAdvice, planFit } from '../../../src/core/estimate/fit-advice.ts';
import { isEstimator, openModelEstimator } from '../../../src/core/estimate/model-estimator.ts';
import { parseLlamaServerArgs } from '../../../src/core/estimate/server-args.ts';
import { GiB } from '../../helpers/fake-nvml.ts';
import { LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';

describe('applying fit advice to a task', () => {
  it('replaces an option in any spelling and adds the ones that were not there', () => {
    assert.deepEqual(argsWithFlags(['-m', 'm.gguf', '--ctx-size', '8192', '--port', '8092'], '-c 4096 -ctk q8_0 -ctv q8_0'), [
      '-m',
      'm.gguf',
      '--port',
      '8092',
      '-c',
      '4096',
      '-ctk',
      'q8_0',
      '-ctv',
      'q8_0',
    ]);
    assert.deepEqual(argsWithFlags(['--ctx-size=8192', '-fa', 'off', '-ngl', '99'], '-c 6144 -fa on'), ['-ngl', '99', '-c', '6144', '-fa', 'on']);
    assert.deepEqual(argsWithFlags(['--n-cpu-moe', '4'], '--n-cpu-moe 12'), ['--n-cpu-moe', '12']);
    assert.deepEqual(argsWithFlags(['-m', 'x'], '--cpu-moe'), ['-m', 'x', '--cpu-moe']);
  });

  it("Ollama's advice sets variables in the task's env, keeping the others", () => {
    assert.deepEqual(envWithVariables({ OLLAMA_KEEP_ALIVE: '5m', OLLAMA_CONTEXT_LENGTH: '32768' }, 'OLLAMA_CONTEXT_LENGTH=8192 OLLAMA_KV_CACHE_TYPE=q8_0'), {
      OLLAMA_KEEP_ALIVE: '5m',
      OLLAMA_CONTEXT_LENGTH: '8192',
      OLLAMA_KV_CACHE_TYPE: 'q8_0',
    });
    assert.deepEqual(taskChange({ args: ['serve'] }, 'ollama', { flags: 'OLLAMA_CONTEXT_LENGTH=4096' }), {
      field: 'env',
      value: { OLLAMA_CONTEXT_LENGTH: '4096' },
    });
  });

  it('every suggestion, applied to the command line, is sized again within the budget', async () => {
    const m = await openModelEstimator(await writeGguf('apply-advice-llama', LLAMA_32_3B, { sparse: true }));
    assert.ok(isEstimator(m));
    const taskArgs = ['-m', 'models/llama.gguf', '--ctx-size', '65536', '-fa', 'off', '-ngl', '99', '--port', '8092'];
    const parsed = parseLlamaServerArgs(taskArgs);
    assert.ok(parsed.ok);
    const plan = planFit(m, parsed.settings, m.estimate(parsed.settings) as VramEstimate, 8 * GiB);
    const budget = 5 * GiB;
    const advice = fitAdvice(m, plan, budget, 'llama-server');
    assert.ok(advice.length >= 2, JSON.stringify(advice));
    assert.ok((m.estimate(parsed.settings) as VramEstimate).totalBytes > budget, 'the task as it is must not fit, or there is nothing to apply');
    for (const a of advice) {
      const change = taskChange({ args: taskArgs }, 'llama-server', a);
      assert.equal(change.field, 'args');
      const again = parseLlamaServerArgs(change.value as string[]);
      assert.ok(again.ok, again.ok ? '' : again.error);
      const total = (m.estimate(again.settings) as VramEstimate).totalBytes;
      assert.ok(total <= budget, `${a.flags}: ${total} > ${budget}`);
      assert.ok((change.value as string[]).includes('--port'), 'the other arguments stay');
    }
  });
});
