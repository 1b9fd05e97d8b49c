/**
 * `npm run test:soak -- N [unit] [fault] [cli]`: builds once, then runs the unit, fault-matrix and
 * CLI stages of `npm test` N times in a row (or only the stages named), and prints every failure
 * with its run number as it happens — a test that fails once in twenty runs is found, not retried.
 * Ends with one line: "soak: N runs, P passed, F failed" and the runs that failed.
 *
 * The tests run as `npm test` runs them (Node's test runner, one process per file, files in
 * parallel). Each run's processes see VRAM_GUARD_SOAK_RUN=<run number>.
 */
import { spawn } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { run } from 'node:test';
import { fileURLToPath } from 'node:url';
import { errorCause } from '../src/core/errors.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface SoakStage {
  /** What `--` names it by: unit, fault, cli. */
  key: string;
  name: string;
  globs: string[];
}

/** The stages of `npm test` (test/run-all.ts) that need no outside service. */
export const SOAK_STAGES: readonly SoakStage[] = [
  { key: 'unit', name: 'unit tests', globs: ['test/unit/**/*.test.ts'] },
  { key: 'fault', name: 'fault-matrix tests', globs: ['test/fault-matrix/**/*.test.ts'] },
  { key: 'cli', name: 'CLI on Node 18, 20 and the pinned Node', globs: ['test/cli-node/**/*.test.ts'] },
];

export interface SoakFailure {
  run: number;
  stage: string;
  file: string;
  test: string;
  /** The first lines of the error. */
  error: string;
}

export interface SoakResult {
  runs: number;
  passed: number;
  failed: number;
  failures: SoakFailure[];
}

interface FailureDetails {
  type?: 'suite' | 'test';
  error?: Error & { failureType?: string; cause?: unknown };
}

/** A failure worth a line: not a parent that failed only because a child did, nor a child cancelled because its parent failed. */
function ownFailure(details: FailureDetails): boolean {
  const kind = details.error?.failureType;
  return kind !== 'subtestsFailed' && kind !== 'cancelledByParent';
}

function errorText(details: FailureDetails): string {
  const err = details.error;
  const cause = errorCause(err);
  const text = cause ? `${cause.name && cause.name !== 'Error' ? `${cause.name}: ` : ''}${cause.message}` : 'failed';
  const lines = text.split('\n').filter((l) => l.trim());
  return lines.slice(0, 6).join('\n') + (lines.length > 6 ? '\n…' : '');
}

/** One stage once: its passes counted, each failure reported through `onFailure` as it comes. */
async function runStage(stage: SoakStage, runNo: number, cwd: string, onFailure: (f: SoakFailure) => void): Promise<{ passed: number; failed: number }> {
  let passed = 0;
  let failed = 0;
  const stream = run({
    globPatterns: stage.globs,
    cwd,
    isolation: 'process',
    concurrency: true,
    env: { ...process.env, VRAM_GUARD_SOAK_RUN: String(runNo) },
  });
  stream.on('test:pass', (data) => {
    if (data.details.type !== 'suite' && !data.skip && !data.todo) passed++;
  });
  stream.on('test:fail', (data) => {
    const details = data.details as FailureDetails;
    if (!ownFailure(details)) return;
    failed++;
    onFailure({ run: runNo, stage: stage.name, file: data.file ? relative(cwd, data.file) : '?', test: data.name, error: errorText(details) });
  });
  // Drain the reporter stream: the events above are the report.
  for await (const _ of stream);
  return { passed, failed };
}

export async function soak(options: { runs: number; stages: readonly SoakStage[]; cwd?: string; print?: (line: string) => void }): Promise<SoakResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const cwd = options.cwd ?? root;
  const result: SoakResult = { runs: options.runs, passed: 0, failed: 0, failures: [] };
  for (let runNo = 1; runNo <= options.runs; runNo++) {
    for (const stage of options.stages) {
      const t0 = performance.now();
      const counts = await runStage(stage, runNo, cwd, (f) => {
        result.failures.push(f);
        print(`FAIL run ${f.run}, ${f.stage}: ${f.file} › ${f.test}\n${f.error.replace(/^/gm, '    ')}`);
      });
      result.passed += counts.passed;
      result.failed += counts.failed;
      print(`run ${runNo}/${options.runs} ${stage.name}: ${counts.passed} passed, ${counts.failed} failed (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
  // Each failing test once, with the runs it failed in: a flaky test shows as "run 3, 17 of 20".
  const byTest = new Map<string, number[]>();
  for (const f of result.failures) {
    const key = `${f.stage}: ${f.file} › ${f.test}`;
    byTest.set(key, [...(byTest.get(key) ?? []), f.run]);
  }
  for (const [key, runs] of byTest) print(`failed: ${key}: run ${runs.join(', ')} of ${options.runs}`);
  print(summaryLine(result));
  return result;
}

/** "soak: 5 runs, 3100 passed, 2 failed (run 1: 1, run 4: 1)", or "…, 0 failed". */
export function summaryLine(r: SoakResult): string {
  const byRun = new Map<number, number>();
  for (const f of r.failures) byRun.set(f.run, (byRun.get(f.run) ?? 0) + 1);
  const where = byRun.size ? ` (${[...byRun].map(([n, c]) => `run ${n}: ${c}`).join(', ')})` : '';
  return `soak: ${r.runs} run${r.runs === 1 ? '' : 's'}, ${r.passed} passed, ${r.failed} failed${where}`;
}

function build(): Promise<number> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'build.ts')], { cwd: root, stdio: 'inherit' });
    child.on('error', () => done(127));
    child.on('close', (code) => done(code ?? 1));
  });
}

const USAGE = 'usage: npm run test:soak -- N [unit] [fault] [cli]   (N runs, 1 to 1000; all three stages unless named)';

if (import.meta.main) {
  const [countText, ...names] = process.argv.slice(2);
  const runs = Number(countText);
  const unknown = names.filter((n) => !SOAK_STAGES.some((s) => s.key === n));
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000 || unknown.length) {
    console.error(unknown.length ? `unknown stage ${unknown.map((n) => JSON.stringify(n)).join(', ')}; ${USAGE}` : USAGE);
    process.exit(64);
  }
  const stages = names.length ? SOAK_STAGES.filter((s) => names.includes(s.key)) : SOAK_STAGES;
  console.log(`soak: ${runs} run${runs === 1 ? '' : 's'} of ${stages.map((s) => s.name).join(', ')}; building first`);
  if ((await build()) !== 0) {
    console.error('soak: the build failed; nothing ran');
    process.exit(1);
  }
  const result = await soak({ runs, stages });
  process.exitCode = result.failed > 0 ? 1 : 0;
}
