/**
 * The same extension-host suite under @vscode/test-electron, on a desktop that can download
 * VS Code (it fetches a VS Code build from Microsoft's update server into .vscode-test/).
 *
 *   npm run test:desktop [-- scenario...]
 *
 * Needs the devDependency @vscode/test-electron and a display (or xvfb-run on Linux). Each scenario
 * gets its own workspace, user data and environment, as in the offline runner; the page checks of
 * notifications are made by the offline runner only. Last line: "N passed, N failed".
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheRoot, repoRoot } from '../../scripts/vscode/paths.ts';
import { privateRuntimeDir } from '../../scripts/vscode/runtime-dir.ts';
import { FakeNvmlState } from '../helpers/fake-nvml.ts';
import type { TestReport } from './index.ts';
import { prepareScenarioRun, summaryLine, type Totals } from './run.ts';
import { scenarioSetups } from './scenario-setups.ts';

interface TestElectron {
  runTests(options: {
    version?: string;
    cachePath?: string;
    extensionDevelopmentPath: string;
    extensionTestsPath: string;
    extensionTestsEnv?: Record<string, string | undefined>;
    launchArgs?: string[];
  }): Promise<number>;
}

async function loadTestElectron(): Promise<TestElectron> {
  const name = '@vscode/test-electron';
  try {
    return (await import(name)) as TestElectron;
  } catch {
    throw new Error('@vscode/test-electron is not installed: npm install --save-dev @vscode/test-electron (it needs a desktop that can download VS Code).');
  }
}

async function main(names: string[]): Promise<Totals> {
  const testElectron = await loadTestElectron();
  const { suite, fakeLibrary, selected, totals } = await prepareScenarioRun(names);
  for (const name of selected) {
    const setup = scenarioSetups[name];
    if (!setup) throw new Error(`unknown scenario "${name}"`);
    console.log(`\n# desktop extension host: ${name}: ${setup.description}`);
    const stateDir = await mkdtemp(join(tmpdir(), `vram-guard-desktop-${name}-`));
    const workspace = join(stateDir, 'workspace');
    const reportPath = join(stateDir, 'report.json');
    const fake = await FakeNvmlState.create(setup.fakeState ?? { devices: [] });
    const ctx = { fakeLibrary, fakeStatePath: fake.path, workspace };
    // The workspace is trusted here (--disable-workspace-trust), so its settings apply in full.
    await mkdir(join(workspace, '.vscode'), { recursive: true });
    await writeFile(join(workspace, '.vscode', 'settings.json'), JSON.stringify(setup.settings(ctx), null, 2));
    let code: number;
    try {
      code = await testElectron.runTests({
        cachePath: join(cacheRoot, 'desktop'),
        extensionDevelopmentPath: repoRoot,
        extensionTestsPath: suite,
        extensionTestsEnv: {
          // The extension's reservations in a folder of this run's own, not the machine's shared one.
          XDG_RUNTIME_DIR: await privateRuntimeDir(stateDir),
          FAKE_NVML_STATE: fake.path,
          VRAM_GUARD_NVML_LIBRARY: undefined,
          VRAM_GUARD_TEST_SCENARIO: name,
          VRAM_GUARD_TEST_REPORT: reportPath,
          ...setup.env?.(ctx),
        },
        launchArgs: [
          workspace,
          '--disable-workspace-trust',
          '--disable-gpu',
          '--user-data-dir',
          join(stateDir, 'user-data'),
          '--extensions-dir',
          join(stateDir, 'extensions'),
        ],
      });
    } catch (err) {
      console.log(`  FAIL ${name}: ${(err as Error).message}`);
      code = 1;
    }
    const report = existsSync(reportPath) ? (JSON.parse(await readFile(reportPath, 'utf8')) as TestReport) : null;
    for (const t of report?.tests ?? [])
      console.log(
        `  ${t.state === 'passed' ? 'ok  ' : t.state === 'failed' ? 'FAIL' : 'skip'} ${t.title}${t.error ? `\n       ${t.error.split('\n')[0]}` : ''}`,
      );
    for (const [k, v] of Object.entries(report?.measurements ?? {})) console.log(`  measured: ${k} = ${v}`);
    if (report) {
      totals.passed += report.passed;
      totals.failed += report.failed;
      totals.skipped += report.pending;
    } else {
      totals.failed++;
    }
    if (code !== 0 && (report?.failed ?? 0) === 0) totals.failed++;
    await rm(stateDir, { recursive: true, force: true });
    await rm(join(fake.path, '..'), { recursive: true, force: true });
  }
  return totals;
}

if (import.meta.main) {
  let totals: Totals;
  try {
    totals = await main(process.argv.slice(2));
  } catch (err) {
    console.log(`desktop extension tests could not run: ${(err as Error).message}`);
    totals = { passed: 0, failed: 1, skipped: 0 };
  }
  console.log(summaryLine(totals));
  process.exitCode = totals.failed > 0 ? 1 : 0;
}
