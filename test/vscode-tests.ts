/**
 * Runs the extension-host tests and then the browser tests, each in a real VS Code, and prints one
 * combined line "N passed, N failed[, N skipped]" at the very end.
 *
 *   node test/vscode-tests.ts            (npm run test:vscode)
 */
import { join } from 'node:path';
import { repoRoot } from '../scripts/vscode/paths.ts';
import { runToEnd, stopEverythingOnExit } from '../scripts/vscode/processes.ts';
import { runDashboardE2e } from './e2e/dashboard.ts';
import { runE2e } from './e2e/run.ts';
import { buildExtension, runIntegration, summaryLine, type Totals } from './integration/run.ts';

/** Runs `npm start -- --check --simulate` (packaged VSIX, code-server, replay) as one test. */
async function startCheck(): Promise<Totals> {
  const t = Date.now();
  let output = '';
  const name = 'npm start serves VS Code whose status bar shows the simulated GPU crossing into CRITICAL';
  try {
    const code = await runToEnd('npm start --check', process.execPath, [join(repoRoot, 'scripts', 'start.ts'), '--check', '--simulate', '--speed', '2'], {
      cwd: repoRoot,
      timeoutMs: 300_000,
      onOutput: (c) => (output += c),
    });
    if (code === 0) {
      console.log(`  ok   ${name} (${Date.now() - t} ms)`);
      return { passed: 1, failed: 0, skipped: 0 };
    }
    console.log(
      `  FAIL ${name} (exit ${String(code)})\n${output
        .trim()
        .split('\n')
        .slice(-12)
        .map((l) => `       ${l}`)
        .join('\n')}`,
    );
  } catch (err) {
    console.log(
      `  FAIL ${name}: ${(err as Error).message}\n${output
        .trim()
        .split('\n')
        .slice(-12)
        .map((l) => `       ${l}`)
        .join('\n')}`,
    );
  }
  return { passed: 0, failed: 1, skipped: 0 };
}

stopEverythingOnExit();
const t0 = Date.now();
const totals: Totals = { passed: 0, failed: 0, skipped: 0 };
const add = (t: Totals) => {
  totals.passed += t.passed;
  totals.failed += t.failed;
  totals.skipped += t.skipped;
};

try {
  await buildExtension();
  process.env.VRAM_GUARD_SKIP_BUILD = '1';
  console.log('## Extension tests in the extension host');
  try {
    add(await runIntegration(process.argv.slice(2)));
  } catch (err) {
    console.log(`extension-host tests could not run: ${(err as Error).message}`);
    totals.failed++;
  }
  console.log('\n## UI tests in Chromium');
  try {
    add(await runE2e());
  } catch (err) {
    console.log(`browser tests could not run: ${(err as Error).message}`);
    totals.failed++;
  }
  console.log('\n## The dashboard in Chromium');
  try {
    add(await runDashboardE2e());
  } catch (err) {
    console.log(`dashboard tests could not run: ${(err as Error).message}`);
    totals.failed++;
  }
  console.log('\n## npm start, checked: the packaged extension with the simulated GPU');
  add(await startCheck());
} catch (err) {
  console.log(`the extension could not be built: ${(err as Error).message}`);
  totals.failed++;
}
console.log(`\nVS Code tests took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(summaryLine(totals));
process.exitCode = totals.failed > 0 ? 1 : 0;
