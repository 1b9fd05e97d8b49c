/**
 * The project's vocabulary, kept by the lint stage: a thrown value becomes a sentence only through
 * `src/core/errors.ts`, and bytes become MiB or GiB only through `src/core/units.ts`. Biome has no
 * rule for either, so this small check reads every TypeScript file git knows (tracked or not
 * ignored) and fails, naming file and line, on:
 * - `instanceof Error ?` outside `src/core/errors.ts` (use `errorMessage(err)`);
 * - a raw mebibyte — `1048576`, `1024 * 1024` or `1_048_576` — outside `src/core/units.ts` (use `MiB`);
 * - in src/, a model-server kind's id as code writes it (`'llama-server'`, `'ollama'` …, one per file
 *   of src/core/servers/kinds/) outside that kind's own file (read its entry from the registry,
 *   src/core/servers/kinds/index.ts). Not `command` (also a fallback action), and not in
 *   src/core/estimate/, whose sizing speaks llama-server's and Ollama's settings (`ServerFlavour`)
 *   from a floor below the servers.
 * Prints "vocabulary: N file(s) checked, no finding" or each finding and exits 1.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
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
  /** Where the rule applies (a path prefix); everywhere when absent. */
  within?: string;
  /** Folders (path prefixes) where the pattern is allowed besides its home. */
  alsoIn?: readonly string[];
}

/** The folder of the model-server kinds: one file per kind, named by its id. */
const KINDS_DIR = 'src/core/servers/kinds';
/** Files of that folder that are not a kind. */
const NOT_KINDS = new Set(['index', 'kind-entry', 'server-kind']);
/** Kind ids that are ordinary words elsewhere too. */
const COMMON_WORDS = new Set(['command']);

/** One rule per kind: its id, single-quoted as code writes it, belongs to its file. */
export function kindRules(kinds: readonly string[]): Rule[] {
  return kinds
    .filter((k) => !COMMON_WORDS.has(k) && /^[a-z0-9-]+$/.test(k))
    .map((k) => ({
      name: `server kind '${k}'`,
      pattern: new RegExp(`'${k}'`),
      home: `${KINDS_DIR}/${k}.ts`,
      advice: `read the kind's entry from ${KINDS_DIR}/index.ts (or its file) instead of naming it`,
      within: 'src/',
      alsoIn: ['src/core/estimate/'],
    }));
}

/** The kinds, from the files of their folder. */
async function kindIds(): Promise<string[]> {
  const names = await readdir(join(root, KINDS_DIR)).catch(() => []);
  return names.filter((n) => n.endsWith('.ts') && !NOT_KINDS.has(n.slice(0, -3))).map((n) => n.slice(0, -3));
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

/** The findings in one file's text; `rules`: the fixed rules and, when given, the kinds' ones. */
export function findingsIn(file: string, text: string, rules: readonly Rule[] = RULES): Finding[] {
  const out: Finding[] = [];
  const lines = text.split('\n');
  if (file === SELF) return out;
  for (const rule of rules) {
    if (file === rule.home || (rule.within && !file.startsWith(rule.within)) || rule.alsoIn?.some((p) => file.startsWith(p))) continue;
    lines.forEach((line, i) => {
      if (rule.pattern.test(line)) out.push({ file, line: i + 1, rule, text: line.trim() });
    });
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const list = await files();
  const rules = [...RULES, ...kindRules(await kindIds())];
  const findings: Finding[] = [];
  for (const file of list) findings.push(...findingsIn(file, await readFile(join(root, file), 'utf8').catch(() => ''), rules));
  for (const f of findings) console.log(`${f.file}:${f.line}: ${f.rule.name}: ${f.rule.advice}\n    ${f.text.slice(0, 160)}`);
  console.log(`vocabulary: ${list.length} file(s) checked, ${findings.length ? `${findings.length} finding(s)` : 'no finding'}`);
  process.exitCode = findings.length ? 1 : 0;
}
