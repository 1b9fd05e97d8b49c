/**
 * The commands are one table: every command package.json contributes has one id in
 * src/vscode/command-ids.ts and the other way round (`tsc` holds the table of handlers in
 * src/vscode/commands.ts to those ids, one each), and the table is registered in one loop: no other
 * file of the VS Code layer calls `registerCommand`. This reads the VS Code layer's source, so a
 * command registered on the side fails here with its file and line.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMMAND } from '../../../src/vscode/command-ids.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';

interface ContributedCommand {
  command: string;
  title: string;
}

test('every contributed command has one id in the table, and every id of the table is contributed', async () => {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { contributes: { commands: ContributedCommand[] } };
  const contributed = pkg.contributes.commands.map((c) => c.command);
  const ids = Object.values(COMMAND);
  assert.equal(new Set(ids).size, ids.length, 'an id appears twice in the table');
  assert.equal(new Set(contributed).size, contributed.length, 'package.json contributes a command twice');
  assert.deepEqual([...ids].sort(), [...contributed].sort());
});

test('the table gives each id a handler, and only commands.ts registers commands', async () => {
  const folder = join(repoRoot, 'src', 'vscode');
  const table = await readFile(join(folder, 'commands.ts'), 'utf8');
  for (const name of Object.keys(COMMAND)) assert.match(table, new RegExp(`\\[COMMAND\\.${name}\\]:`), `commands.ts has no handler for ${name}`);
  const files = (await readdir(folder, { recursive: true })).filter((f) => f.endsWith('.ts') && f !== 'commands.ts');
  const elsewhere: string[] = [];
  for (const file of files) {
    const source = await readFile(join(folder, file), 'utf8');
    source.split('\n').forEach((line, i) => {
      if (/\bregisterCommand\s*\(/.test(line)) elsewhere.push(`src/vscode/${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(elsewhere, [], 'add the command to the table in src/vscode/commands.ts instead');
  assert.equal((table.match(/\bregisterCommand\s*\(/g) ?? []).length, 1, 'commands.ts registers in one loop');
});
