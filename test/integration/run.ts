/**
 * Runs the extension-host test suite in a real VS Code, offline: for each scenario it starts the
 * VS Code server bundled in code-server with the smoke-test driver, opens the workbench in Debian's
 * Chromium (playwright-core) with the extension under development and the bundled suite, and turns
 * the page's `codeAutomationExit(code)` into the result. Every process is stopped by PID, also on
 * failure and on Ctrl-C.
 *
 *   node test/integration/run.ts [scenario...]   (default: every scenario)
 *
 * Last line of output: "N passed, N failed[, N skipped]".
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../scripts/vscode/paths.ts';
import { runToEnd, stopEverythingOnExit } from '../../scripts/vscode/processes.ts';
import type { RunningServer } from '../../scripts/vscode/server.ts';
import { StartedWorkbench } from '../../scripts/vscode/workbench.ts';
import { buildFakeNvml, FakeNvmlState } from '../helpers/fake-nvml.ts';
import { buildSuite } from './build.ts';
import type { TestReport } from './index.ts';
import type { Page } from 'playwright-core';
import type { PageGlobals } from '../../scripts/vscode/page-dom.ts';
import { scenarioSetups, selectedScenarioNames, type Notification, type ScenarioSetup } from './scenario-setups.ts';

const RUN_TIMEOUT_MS = Number(process.env.VRAM_GUARD_TEST_TIMEOUT_MS ?? 180_000);

interface Outcome {
  name: string;
  /** The page's notifications check, when the scenario has one. */
  notificationCheck: { title: string; problem: string | null } | null;
  report: TestReport | null;
  exitCode: number | null;
  problem: string | null;
  wallMs: number;
  /** What the workbench handed to codeAutomationExit (its log lines). */
  logs?: unknown;
}

const workbench = new StartedWorkbench();
const stopCurrent = workbench.stop;

/** Builds the extension (npm run build) unless told not to. */
export async function buildExtension(): Promise<void> {
  if (process.env.VRAM_GUARD_SKIP_BUILD === '1') return;
  const code = await runToEnd('build', process.execPath, [join(repoRoot, 'scripts', 'build.ts')], {
    cwd: repoRoot,
    timeoutMs: 120_000,
    onOutput: (chunk) => process.stderr.write(chunk),
  });
  if (code !== 0) throw new Error(`npm run build failed (exit ${String(code)})`);
  if (!existsSync(join(repoRoot, 'dist', 'extension.cjs'))) throw new Error('npm run build did not produce dist/extension.cjs');
}

/** The workbench URL that loads the extension under development and runs the suite. */
export function testUrl(server: RunningServer, workspace: string, suite: string | null): string {
  const remote = (path: string) => `vscode-remote://127.0.0.1:${server.port}${path}`;
  const payload: string[][] = [['extensionDevelopmentPath', remote(repoRoot)]];
  if (suite) payload.push(['extensionTestsPath', remote(suite)]);
  return `${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Every notification the workbench holds (toasts and the notification centre), read from the page. */
export async function readNotifications(page: Page): Promise<Notification[]> {
  // Open the notification centre: it lists every notification, also those whose toast has gone.
  await page.keyboard.press('Escape').catch(() => {});
  const bell = page.locator('[id="status.notifications"]').first();
  if (await bell.count()) await bell.click({ timeout: 5000 }).catch(() => {});
  await page.waitForTimeout(500);
  return await page.evaluate(() => {
    const { document } = globalThis as unknown as PageGlobals;
    const rows = Array.from(document.querySelectorAll('.notifications-center .notification-list-item, .notifications-toasts .notification-list-item'));
    const seen = new Set<string>();
    const out: Array<{ severity: 'error' | 'warning' | 'info'; text: string; source: string }> = [];
    for (const row of rows) {
      const icon = row.querySelector('.notification-list-item-icon');
      const cls = icon?.className ?? '';
      const severity = cls.includes('codicon-error') ? 'error' : cls.includes('codicon-warning') ? 'warning' : 'info';
      const text = (row.querySelector('.notification-list-item-message')?.textContent ?? row.textContent ?? '').trim();
      const source = (row.querySelector('.notification-list-item-source')?.textContent ?? '').trim();
      const key = `${severity}|${text}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ severity, text, source });
    }
    return out;
  });
}

async function runScenario(setup: ScenarioSetup, suite: string, fakeLibrary: string): Promise<Outcome> {
  const t0 = Date.now();
  const stateDir = await mkdtemp(join(tmpdir(), `vram-guard-it-${setup.name}-`));
  const workspace = join(stateDir, 'workspace');
  const reportPath = join(stateDir, 'report.json');
  const consoleFile = join(stateDir, 'browser-console.log');
  const fake = await FakeNvmlState.create(setup.fakeState ?? { devices: [] });
  const context = { fakeLibrary, fakeStatePath: fake.path, workspace };
  // The settings go to the server's machine settings: the workspace is not trusted (unless the
  // scenario says so), and an untrusted workspace may not choose the NVML library (a restricted setting).
  await mkdir(join(stateDir, 'user-data', 'Machine'), { recursive: true });
  await writeFile(join(stateDir, 'user-data', 'Machine', 'settings.json'), JSON.stringify(setup.settings(context), null, 2));
  await mkdir(workspace, { recursive: true });
  await writeFile(join(workspace, 'README.md'), `Workspace for the "${setup.name}" extension tests.\n`);
  for (const [file, content] of Object.entries((await setup.workspaceFiles?.(context)) ?? {})) {
    await mkdir(dirname(join(workspace, file)), { recursive: true });
    await writeFile(join(workspace, file), content);
  }
  const outcome: Outcome = { name: setup.name, notificationCheck: null, report: null, exitCode: null, problem: null, wallMs: 0 };
  try {
    const currentServer = await workbench.startServer({
      mode: 'smoke',
      stateDir,
      env: {
        FAKE_NVML_STATE: fake.path,
        VRAM_GUARD_NVML_LIBRARY: undefined,
        VRAM_GUARD_TEST_SCENARIO: setup.name,
        VRAM_GUARD_TEST_REPORT: reportPath,
        VRAM_GUARD_TEST_FAKE_LIBRARY: fakeLibrary,
        ...setup.env?.(context),
      },
      extraArgs: setup.trusted ? ['--disable-workspace-trust'] : [],
    });
    const currentBrowser = await workbench.launchBrowser();
    const page = currentBrowser.page;
    const exit = new Promise<{ code: number; logs: unknown }>((resolve) => {
      void page.exposeFunction('codeAutomationExit', (code: number, logs: unknown) => {
        resolve({ code, logs });
      });
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => void appendFile(consoleFile, `[${msg.type()}] ${msg.text()}\n`).catch(() => {}));
    await page.goto(testUrl(currentServer, workspace, suite), { timeout: 60_000 });
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), RUN_TIMEOUT_MS).unref());
    const result = await Promise.race([exit, timeout]);
    if (result === 'timeout') {
      outcome.problem = `the test run did not finish within ${RUN_TIMEOUT_MS / 1000} s (page errors: ${pageErrors.slice(0, 3).join(' | ') || 'none'}); server log: ${currentServer.logFile}`;
    } else {
      outcome.exitCode = result.code;
      outcome.logs = result.logs;
    }
    if (setup.notifications && result !== 'timeout') {
      const shown = await readNotifications(page);
      outcome.notificationCheck = { title: setup.notifications.title, problem: setup.notifications.check(shown) };
    }
    if (existsSync(reportPath)) outcome.report = JSON.parse(await readFile(reportPath, 'utf8')) as TestReport;
    else if (!outcome.problem) {
      outcome.problem = `the suite wrote no report (exit code ${outcome.exitCode}); server log: ${currentServer.logFile}; console: ${consoleFile}`;
    }
  } catch (err) {
    outcome.problem = (err as Error).message;
  } finally {
    await stopCurrent();
  }
  outcome.wallMs = Date.now() - t0;
  if (!outcome.problem && outcome.exitCode === 0 && process.env.VRAM_GUARD_KEEP_STATE !== '1') {
    await rm(stateDir, { recursive: true, force: true });
    await rm(join(fake.path, '..'), { recursive: true, force: true });
  } else {
    process.stderr.write(`  state of scenario ${setup.name} kept in ${stateDir}\n`);
  }
  return outcome;
}

export interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

/** What every scenario run needs first: the extension and the suite built, the fake NVML compiled, the scenarios chosen. */
export async function prepareScenarioRun(names: string[]): Promise<{ suite: string; fakeLibrary: string; selected: string[]; totals: Totals }> {
  await buildExtension();
  const suite = await buildSuite();
  const fakeLibrary = await buildFakeNvml('current');
  return { suite, fakeLibrary, selected: selectedScenarioNames(names), totals: { passed: 0, failed: 0, skipped: 0 } };
}

export async function runIntegration(names: string[]): Promise<Totals> {
  const t0 = Date.now();
  const { suite, fakeLibrary, selected, totals } = await prepareScenarioRun(names);
  for (const name of selected) {
    const setup = scenarioSetups[name];
    if (!setup) {
      console.log(`unknown scenario "${name}" (known: ${Object.keys(scenarioSetups).join(', ')})`);
      totals.failed++;
      continue;
    }
    console.log(`\n# extension host: ${name}: ${setup.description}`);
    const outcome = await runScenario(setup, suite, fakeLibrary);
    const r = outcome.report;
    for (const test of r?.tests ?? []) {
      const mark = test.state === 'passed' ? 'ok  ' : test.state === 'failed' ? 'FAIL' : 'skip';
      console.log(`  ${mark} ${test.title} (${test.durationMs} ms)`);
      if (test.error)
        console.log(
          test.error
            .split('\n')
            .slice(0, 8)
            .map((l) => `       ${l}`)
            .join('\n'),
        );
    }
    if (outcome.notificationCheck) {
      const { title, problem } = outcome.notificationCheck;
      console.log(`  ${problem ? 'FAIL' : 'ok  '} page ${title}`);
      if (problem) console.log(`       ${problem}`);
      if (problem) totals.failed++;
      else totals.passed++;
    } else if (setup.notifications && !outcome.problem) {
      console.log(`  FAIL page ${setup.notifications.title}: the page could not be read`);
      totals.failed++;
    }
    for (const [key, value] of Object.entries(r?.measurements ?? {})) console.log(`  measured: ${key} = ${value}`);
    if (r) {
      totals.passed += r.passed;
      totals.failed += r.failed;
      totals.skipped += r.pending;
    }
    if (outcome.problem) {
      console.log(`  FAIL ${name}: ${outcome.problem}`);
      totals.failed++;
    } else if (outcome.exitCode !== 0 && (r?.failed ?? 0) === 0) {
      console.log(`  FAIL ${name}: the extension host reported exit code ${outcome.exitCode} with no failed test`);
      totals.failed++;
    }
    console.log(`  (${(outcome.wallMs / 1000).toFixed(1)} s, exit code ${outcome.exitCode ?? 'none'})`);
  }
  console.log(`\nextension-host tests took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return totals;
}

export function summaryLine(t: Totals): string {
  return `${t.passed} passed, ${t.failed} failed${t.skipped > 0 ? `, ${t.skipped} skipped` : ''}`;
}

if (import.meta.main) {
  stopEverythingOnExit(stopCurrent);
  let totals: Totals;
  try {
    totals = await runIntegration(process.argv.slice(2));
  } catch (err) {
    console.log(`extension-host tests could not run: ${(err as Error).message}`);
    totals = { passed: 0, failed: 1, skipped: 0 };
  }
  await stopCurrent();
  console.log(summaryLine(totals));
  process.exitCode = totals.failed > 0 ? 1 : 0;
}
