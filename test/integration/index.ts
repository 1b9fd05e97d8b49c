/**
 * The extension-test entry point (the protocol @vscode/test-electron and the VS Code server's
 * test runner both use): a module exporting `run()`, which runs mocha inside the extension host.
 * Bundled by test/integration/build.ts to out/test/integration/index.cjs.
 *
 * The suite to run is chosen by the runner through VRAM_GUARD_TEST_SCENARIO; results go to the
 * JSON file named by VRAM_GUARD_TEST_REPORT as well as to the console.
 */
/// <reference types="mocha" />
import { writeFileSync } from 'node:fs';
import Mocha from 'mocha';
import { scenarios } from './suite/scenarios.ts';

export interface TestReport {
  scenario: string;
  passed: number;
  failed: number;
  pending: number;
  tests: Array<{ title: string; state: 'passed' | 'failed' | 'pending'; durationMs: number; error?: string }>;
  /** Facts measured by the tests, for the runner to print (e.g. activation time). */
  measurements: Record<string, number | string>;
}

export const measurements: Record<string, number | string> = {};

export async function run(): Promise<void> {
  const scenario = process.env.VRAM_GUARD_TEST_SCENARIO ?? 'all';
  const reportPath = process.env.VRAM_GUARD_TEST_REPORT;
  const mocha = new Mocha({ ui: 'bdd', timeout: 30_000, color: false, reporter: 'spec' });
  mocha.suite.emit('pre-require', globalThis, 'vram-guard-integration', mocha);
  const selected = scenario === 'all' ? Object.values(scenarios) : [scenarios[scenario]];
  if (selected.some((s) => s === undefined)) {
    throw new Error(`unknown test scenario "${scenario}" (known: ${Object.keys(scenarios).join(', ')})`);
  }
  for (const define of selected) define!(measurements);

  const report: TestReport = { scenario, passed: 0, failed: 0, pending: 0, tests: [], measurements };
  const failures = await new Promise<number>((resolve) => {
    const runner = mocha.run(resolve);
    runner.on('pass', (test) => {
      report.passed++;
      report.tests.push({ title: test.fullTitle(), state: 'passed', durationMs: test.duration ?? 0 });
    });
    runner.on('fail', (test, err: Error) => {
      report.failed++;
      report.tests.push({ title: test.fullTitle(), state: 'failed', durationMs: test.duration ?? 0, error: err?.stack ?? String(err) });
    });
    runner.on('pending', (test) => {
      report.pending++;
      report.tests.push({ title: test.fullTitle(), state: 'pending', durationMs: 0 });
    });
  });
  if (reportPath) writeFileSync(reportPath, JSON.stringify(report, null, 2));
  if (failures > 0) throw new Error(`${failures} test(s) failed`);
}
