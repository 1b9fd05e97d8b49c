/**
 * Every notification VRAM Guard shows is one line with its actions: it goes through `showNotice`
 * (which keeps a longer text to its first sentence under 160 characters and puts the rest behind
 * "Show details"), or its text comes from a line builder of src/core/report/one-line.ts, whose
 * lengths are tested there. Only modal confirmations (a question with its details in `detail`) call
 * VS Code's message functions directly. This reads the VS Code layer's source, so a new direct call
 * fails here with its file and line.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../../helpers/fake-nvml.ts';

const folder = join(repoRoot, 'src', 'vscode');
const HOME = join('notifications', 'notice.ts');
const CALL = /window\.show(?:Information|Warning|Error)Message\(/g;

/** The call's text up to its closing parenthesis (nested ones counted). */
function callText(source: string, at: number): string {
  let depth = 0;
  for (let i = source.indexOf('(', at); i < source.length; i++) {
    if (source[i] === '(') depth++;
    else if (source[i] === ')' && --depth === 0) return source.slice(at, i + 1);
  }
  return source.slice(at);
}

test('every notification is one line: through showNotice, a one-line builder, or a modal question', async () => {
  const files = (await readdir(folder, { recursive: true })).filter((f) => f.endsWith('.ts') && f !== HOME);
  const direct: string[] = [];
  let checked = 0;
  for (const file of files) {
    const source = await readFile(join(folder, file), 'utf8');
    for (const m of source.matchAll(CALL)) {
      checked++;
      const call = callText(source, m.index);
      const modal = /\{\s*modal:\s*true/.test(call);
      const built = /Message\(\s*\w+Line\(/.test(call);
      if (!modal && !built) direct.push(`${relative(repoRoot, join(folder, file))}:${source.slice(0, m.index).split('\n').length}: ${call.slice(0, 120)}`);
    }
  }
  assert.ok(checked > 0, 'no direct call was found at all: the pattern no longer matches the source');
  assert.deepEqual(direct, [], 'use showNotice (src/vscode/notifications/notice.ts) or a line builder from one-line.ts');
});
