/**
 * The vocabulary check of the lint stage: each pattern is flagged, with its line, in an ordinary
 * file, and not in the one file where it belongs. The patterns are assembled at run time so this
 * file does not hold them itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findingsIn, kindRules } from '../../../scripts/lint-vocabulary.ts';

const errorShape = `  return err instanceof Error${' ?'} err.message : String(err);`;
const mebibytes = [`const a = ${2 ** 20};`, `const b = 1024 ${'* 1024'};`, `const c = 1_048${'_576'};`, `const d = 64 * 1024${'*1024'};`];

/** "line: rule" for each finding, in the order given. */
function flagged(file: string, lines: string[]): string[] {
  return findingsIn(file, lines.join('\n')).map((f) => `${f.line}: ${f.rule.name}`);
}

test('an ordinary file: the hand-written error sentence and every spelling of a raw mebibyte are flagged, each on its line', () => {
  const lines = ['// a module', errorShape, ...mebibytes];
  assert.deepEqual(flagged('src/core/watch/some-module.ts', lines), ['2: error message', '3: raw MiB', '4: raw MiB', '5: raw MiB', '6: raw MiB']);
});

test("a finding names the file and keeps the line's text, trimmed", () => {
  const [finding] = findingsIn('test/unit/x.test.ts', `\n${errorShape}\n`);
  assert.equal(finding?.file, 'test/unit/x.test.ts');
  assert.equal(finding?.line, 2);
  assert.equal(finding?.text, errorShape.trim());
});

test('each pattern is allowed in its home file only: errors.ts may test for an Error, units.ts may spell out a mebibyte', () => {
  assert.deepEqual(flagged('src/core/errors.ts', [errorShape]), []);
  assert.deepEqual(flagged('src/core/units.ts', mebibytes), []);
  assert.deepEqual(flagged('src/core/errors.ts', [mebibytes[0] ?? '']), ['1: raw MiB'], 'errors.ts is not the home of a mebibyte');
  assert.deepEqual(flagged('src/core/units.ts', [errorShape]), ['1: error message'], 'units.ts is not the home of an error sentence');
});

test('what the helpers write, and numbers that only look alike, are not flagged', () => {
  const lines = [
    'const why = errorMessage(err);',
    'const e = err instanceof Error && err.cause instanceof Error;',
    'const max = 64 * MiB;',
    'const kib = 256 * 1024;',
    `const ten = ${10 * 2 ** 20};`,
    'const tenMiBInKiB = 1024 * 10240;',
  ];
  assert.deepEqual(flagged('src/core/watch/some-module.ts', lines), []);
});

test("a server kind's id, as code writes it, belongs to its kind's file in src/; tests, the estimate floor and its words in prose are left alone", () => {
  const rules = kindRules(['llama-server', 'ollama', 'command']);
  const named = `  if (task.server === ${"'ollama'"}) return;`;
  const lines = (file: string, text: string) => findingsIn(file, text, rules).map((f) => f.rule.name);
  assert.deepEqual(lines('src/core/fallback/some-step.ts', named), ["server kind 'ollama'"]);
  assert.deepEqual(lines('src/core/servers/kinds/ollama.ts', named), []);
  assert.deepEqual(lines('src/core/servers/kinds/llama-server.ts', named), ["server kind 'ollama'"], "llama-server's file is not Ollama's home");
  assert.deepEqual(lines('test/unit/servers/x.test.ts', named), [], 'tests may name kinds');
  assert.deepEqual(lines('src/core/estimate/fit-advice.ts', named), [], "the estimate's flavours");
  assert.deepEqual(lines('src/core/fallback/some-step.ts', `const step = { action: ${"'command'"} };`), [], '"command" is also an action');
  assert.deepEqual(lines('src/core/checks/spec.ts', 'problems.push(`{ "server": "ollama" }`);'), [], 'a JSON example in a sentence');
});
