/**
 * The project's vocabulary, kept by the lint stage: a thrown value becomes a sentence only through
 * `src/core/errors.ts`, and bytes become MiB or GiB only through `src/core/units.ts`. Biome has no
 * rule for either, so this small check reads every TypeScript file git knows (tracked or not
 * ignored) and fails, naming file and line, on:
 * - `instanceof Error ?` outside `src/core/errors.ts` (use `errorMessage(err)`);
 * - a raw mebibyte — `1048576`, `1024 * 1024` or `1_048_576` — outside `src/core/units.ts` (use `MiB`).
 * Prints "vocabulary: N file(s) checked, no finding" or each finding and exits 1.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Rule {
  name: string;
  pattern: RegExp;
  /** The one file where the pattern belongs. */
  home: string;
  advice: string;
}

const RULES: Rule[] = [
  {
    name: 'error message',
    pattern: /instanceof Error\s*\?/,
    home: 'src/core/errors.ts',
    advice: 'use errorMessage(err) from src/core/errors.ts',
  },
  {
    name: 'raw MiB',
    pattern: /\b1048576\b|\b1_048_576\b|\b1024\s*\*\s*1024\b/,
    home: 'src/core/units.ts',
    advice: 'use MiB / GiB (or a format helper) from src/core/units.ts',
  },
];

/** This check names the patterns it looks for. */
const SELF = 'scripts/lint-vocabulary.ts';

/** Every .ts file git would commit: tracked, or untracked and not ignored. */
async function files(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', '*.ts'], {
    cwd: root,
    maxBuffer: 16 * 1024 ** 2,
  });
  return stdout.split('\n').filter((f) => f && !f.endsWith('.d.ts'));
}

export interface Finding {
  file: string;
  line: number;
  rule: Rule;
  text: string;
}

/** The findings in one file's text. */
export function findingsIn(file: string, text: string): Finding[] {
  const out: Finding[] = [];
  const lines = text.split('\n');
  if (file === SELF) return out;
  for (const rule of RULES) {
    if (file === rule.home) continue;
    lines.forEach((line, i) => {
      if (rule.pattern.test(line)) out.push({ file, line: i + 1, rule, text: line.trim() });
    });
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const list = await files();
  const findings: Finding[] = [];
  for (const file of list) findings.push(...findingsIn(file, await readFile(join(root, file), 'utf8').catch(() => '')));
  for (const f of findings) console.log(`${f.file}:${f.line}: ${f.rule.name}: ${f.rule.advice}\n    ${f.text.slice(0, 160)}`);
  console.log(`vocabulary: ${list.length} file(s) checked, ${findings.length ? `${findings.length} finding(s)` : 'no finding'}`);
  process.exitCode = findings.length ? 1 : 0;
}
