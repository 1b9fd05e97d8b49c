/**
 * README.md's Reliability table lists every fault-matrix test, in order (files sorted by name, tests
 * in file order), each name split at the arrow into its two columns.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/fake-nvml.ts';

const dir = join(repoRoot, 'test', 'fault-matrix');

async function testNames(): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.test.ts') && f !== 'readme-table.test.ts').sort();
  const names: string[] = [];
  for (const f of files) {
    const text = await readFile(join(dir, f), 'utf8');
    for (const m of text.matchAll(/^\s*test\((['"`])((?:\\.|(?!\1).)*)\1/gm)) names.push(m[2]!.replace(/\\(.)/g, '$1'));
  }
  return names;
}

test('README.md Reliability table matches the fault-matrix tests, row by row', async () => {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('## Reliability');
  assert.ok(start >= 0, 'README.md has no "## Reliability" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const rows = section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| Fault |'))
    .map((l) => l.slice(2, -2).split(' | ').join(' → '));
  const names = await testNames();
  for (const n of names) assert.ok(n.includes(' → '), `the test "${n}" is not named "<fault> → <what VRAM Guard does>"`);
  assert.deepEqual(rows, names);
});
