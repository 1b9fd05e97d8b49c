/**
 * The table in docs/reliability.md against the fault-matrix suite: one row per test, `| fault | what VRAM
 * Guard does |` from the test's name `fault → what VRAM Guard does`, in the order of the files sorted
 * by name, then of the tests in each file. The names are read from every file in this folder by a
 * light scan of its `test('…')` calls (no test runs twice): a name must be a string literal.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/fake-nvml.ts';

const ARROW = ' → ';
const folder = join(repoRoot, 'test', 'fault-matrix');

/** The names of a file's test and it calls, in order; a call whose name is not a literal is an error. */
function testNames(source: string, file: string): string[] {
  const names: string[] = [];
  // A call that starts a line (comments and strings that mention test(…) do not).
  const call = /^[ \t]*(?:test|it)(?:\.(?:only|skip|todo))?\(\s*/gm;
  for (let m = call.exec(source); m; m = call.exec(source)) {
    const at = m.index + m[0].length;
    const quote = source[at];
    const line = source.slice(0, m.index).split('\n').length;
    if (quote !== "'" && quote !== '"' && quote !== '`')
      throw new Error(`${file}:${line}: the test's name is not a string literal, so the Reliability table check cannot read it`);
    let name = '';
    let i = at + 1;
    for (; i < source.length && source[i] !== quote; i++) {
      if (source[i] === '\\') name += unescapeChar(source[++i]!);
      else if (quote === '`' && source[i] === '$' && source[i + 1] === '{')
        throw new Error(`${file}:${line}: the test's name has a \${…} part, so the Reliability table check cannot read it`);
      else name += source[i];
    }
    names.push(name);
  }
  return names;
}

const unescapeChar = (c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c;

/** The rows of the table in docs/reliability.md (`# Reliability`, up to its next section) as names (`fault → what`). */
function reliabilityRows(page: string): string[] {
  const start = page.search(/^# Reliability$/m);
  if (start < 0) throw new Error('docs/reliability.md has no "# Reliability" title');
  const rest = page.slice(start + 1);
  const end = rest.search(/^#{1,2} /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  assert.equal(lines[0]?.replace(/\s+/g, ' '), '| Fault | What VRAM Guard does |', 'the table must start with the header | Fault | What VRAM Guard does |');
  assert.match(lines[1] ?? '', /^\|\s*:?-+:?\s*\|\s*:?-+:?\s*\|$/, 'the header must be followed by |---|---|');
  return lines.slice(2).map((row) => {
    const cells = row
      .slice(1, row.trimEnd().endsWith('|') ? row.trimEnd().length - 1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\\\|/g, '|'));
    if (cells.length !== 2) throw new Error(`a Reliability row does not have two cells: ${row}`);
    return `${cells[0]}${ARROW}${cells[1]}`;
  });
}

test('The Reliability table in docs/reliability.md drifts from the fault-matrix tests → this check fails naming the rows to add, remove or reorder', () => {
  const files = readdirSync(folder)
    .filter((f) => f.endsWith('.test.ts'))
    .sort();
  const names = files.flatMap((f) => testNames(readFileSync(join(folder, f), 'utf8'), `test/fault-matrix/${f}`));
  const badNames = names.filter((n) => n.split(ARROW).length < 2 || !n.split(ARROW)[0]!.trim() || !n.split(ARROW).slice(1).join(ARROW).trim());
  assert.deepEqual(badNames, [], `fault-matrix tests must be named "<fault> → <what VRAM Guard does>"`);
  const rows = reliabilityRows(readFileSync(join(repoRoot, 'docs', 'reliability.md'), 'utf8'));
  const missing = names.filter((n) => !rows.includes(n));
  const extra = rows.filter((r) => !names.includes(r));
  const table = names
    .map((n) => {
      const [fault, ...what] = n.split(ARROW);
      return `| ${fault!.replace(/\|/g, '\\|')} | ${what.join(ARROW).replace(/\|/g, '\\|')} |`;
    })
    .join('\n');
  assert.deepEqual(
    { missing, extra },
    { missing: [], extra: [] },
    `docs/reliability.md's table and the tests differ. The table should read:\n\n| Fault | What VRAM Guard does |\n|---|---|\n${table}\n`,
  );
  assert.deepEqual(rows, names, `the rows are in another order than the files (sorted by name) and their tests. The table should read:\n\n${table}\n`);
});
