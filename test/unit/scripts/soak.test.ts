/**
 * `npm run test:soak`: every failure with its run number, and one summary line, from real test
 * runs. Node's runner does not start test files from inside a test file, so the soak runs in a
 * process of its own, over a folder of fixture tests.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { SoakResult } from '../../../scripts/soak.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';

/** Runs soak() in a fresh Node over `dir`; gives what it printed and its result. */
async function soakIn(dir: string, runs: number): Promise<{ lines: string[]; result: SoakResult }> {
  const module = pathToFileURL(join(repoRoot, 'scripts', 'soak.ts')).href;
  const driver = `const { soak } = await import(${JSON.stringify(module)});
const lines = [];
const result = await soak({ runs: ${runs}, stages: [{ key: 'x', name: 'fixture stage', globs: ['*.test.ts'] }], cwd: ${JSON.stringify(dir)}, print: (l) => lines.push(l) });
process.stdout.write(JSON.stringify({ lines, result }));`;
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  // A file, not `-e`: the runner starts each test file with this process's own Node options.
  const driverFile = join(dir, 'soak-driver.mjs');
  await writeFile(driverFile, driver);
  return await new Promise((resolve, reject) => {
    execFile(process.execPath, [driverFile], { cwd: dir, env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`the soak driver failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as { lines: string[]; result: SoakResult });
    });
  });
}

test('a test that fails only in the second of three runs is printed with run 2, its file and its error; the summary line counts every run', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-soak-'));
  await writeFile(join(dir, 'steady.test.ts'), "import { test } from 'node:test';\ntest('always passes', () => {});\n");
  await writeFile(
    join(dir, 'flaky.test.ts'),
    [
      "import assert from 'node:assert/strict';",
      "import { describe, it, test } from 'node:test';",
      "test('passes too', () => {});",
      "describe('a suite', () => {",
      "  it('fails on run 2', () => assert.equal(process.env.VRAM_GUARD_SOAK_RUN === '2' ? 11 : 12, 12));",
      '});',
      '',
    ].join('\n'),
  );
  const { lines, result } = await soakIn(dir, 3);
  assert.deepEqual(
    result.failures.map((f) => [f.run, f.stage, f.file, f.test]),
    [[2, 'fixture stage', 'flaky.test.ts', 'fails on run 2']],
  );
  assert.match(result.failures[0]!.error, /11 !== 12/);
  const printed = lines.join('\n');
  assert.match(printed, /^FAIL run 2, fixture stage: flaky\.test\.ts › fails on run 2\n {4}AssertionError.*\n[\s\S]*11 !== 12/m);
  // One line per stage and run, and the suite that only failed because of its test is not a second failure.
  assert.deepEqual(
    lines.filter((l) => l.startsWith('run ')).map((l) => l.replace(/ \(\d+\.\d s\)$/, '')),
    ['run 1/3 fixture stage: 3 passed, 0 failed', 'run 2/3 fixture stage: 2 passed, 1 failed', 'run 3/3 fixture stage: 3 passed, 0 failed'],
  );
  assert.deepEqual(lines.slice(-2), ['failed: fixture stage: flaky.test.ts › fails on run 2: run 2 of 3', 'soak: 3 runs, 8 passed, 1 failed (run 2: 1)']);
});
