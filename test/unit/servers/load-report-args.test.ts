import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOAD_REPORT_VERBOSITY, withLoadReportVerbosity } from '../../../src/core/servers/load-report-args.ts';
import { validateTaskDefinition } from '../../../src/core/servers/task-definition.ts';

test('loadReport adds -lv 4 after the arguments, where nothing already asks for that much', () => {
  assert.equal(LOAD_REPORT_VERBOSITY, 4);
  assert.deepEqual(withLoadReportVerbosity(['-m', 'm.gguf', '-c', '4096'], {}), ['-m', 'm.gguf', '-c', '4096', '-lv', '4']);
  // A lower level the user chose is raised: the last -lv wins in llama.cpp.
  assert.deepEqual(withLoadReportVerbosity(['-m', 'm.gguf', '-lv', '2'], {}), ['-m', 'm.gguf', '-lv', '2', '-lv', '4']);
  assert.deepEqual(withLoadReportVerbosity(['-m', 'm.gguf'], { LLAMA_ARG_LOG_VERBOSITY: '1' }), ['-m', 'm.gguf', '-lv', '4']);
});

test('loadReport leaves -v, -lv 4 and above, --verbosity=5 and LLAMA_ARG_LOG_VERBOSITY=4 as they are', () => {
  for (const args of [['-v'], ['--verbose'], ['-lv', '4'], ['--log-verbosity', '5'], ['--verbosity=5']])
    assert.deepEqual(withLoadReportVerbosity(['-m', 'm.gguf', ...args], {}), ['-m', 'm.gguf', ...args], args.join(' '));
  assert.deepEqual(withLoadReportVerbosity(['-m', 'm.gguf'], { LLAMA_ARG_LOG_VERBOSITY: '4' }), ['-m', 'm.gguf']);
});

test('"loadReport" is a boolean for llama-server tasks only', () => {
  const ok = validateTaskDefinition({ type: 'vram-guard', server: 'llama-server', args: ['-m', 'm.gguf'], loadReport: true }, 'llama');
  assert.equal(ok.ok && ok.task.loadReport, true);
  const off = validateTaskDefinition({ type: 'vram-guard', server: 'llama-server', args: ['-m', 'm.gguf'] }, 'llama');
  assert.equal(off.ok && off.task.loadReport, false);
  const notBool = validateTaskDefinition({ type: 'vram-guard', server: 'llama-server', args: ['-m', 'm.gguf'], loadReport: 'yes' }, 'llama');
  assert.deepEqual(notBool.ok ? [] : notBool.problems, ['Task "llama": "loadReport" must be true or false.']);
  const ollama = validateTaskDefinition({ type: 'vram-guard', server: 'ollama', model: 'llama3.2:3b', loadReport: true }, 'ollama');
  assert.deepEqual(ollama.ok ? [] : ollama.problems, ['Task "ollama": "loadReport" is for llama-server tasks only (it adds llama-server\'s -lv 4).']);
});
