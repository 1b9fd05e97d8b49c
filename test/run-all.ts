/**
 * `npm test`: build, typecheck, lint and format check, then every suite — unit tests, the fault matrix, the echo-cancellation tests against a
 * private PipeWire, and the tests in a real VS Code and browser — and one closing line that sums them
 * all: "N passed, N failed, N skipped". Exits non-zero when anything failed.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;

interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

/** Runs a command, echoing its output, and returns its exit code and what it printed. */
function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let output = '';
    const echo = (stream: NodeJS.WriteStream) => (chunk: Buffer) => {
      output += chunk.toString();
      stream.write(chunk);
    };
    child.stdout.on('data', echo(process.stdout));
    child.stderr.on('data', echo(process.stderr));
    child.on('error', (err) => resolvePromise({ code: 127, output: `${output}\n${err.message}` }));
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), output }));
  });
}

/** Counts from Node's test runner summary ("ℹ pass 12" ...). */
function nodeTestTotals(output: string): Totals | null {
  const count = (word: string) => {
    const m = [...output.matchAll(new RegExp(`^ℹ ${word} (\\d+)$`, 'gm'))].pop();
    return m ? Number(m[1]) : null;
  };
  const passed = count('pass');
  const failed = count('fail');
  if (passed === null || failed === null) return null;
  return { passed, failed: failed + (count('cancelled') ?? 0), skipped: (count('skipped') ?? 0) + (count('todo') ?? 0) };
}

/** Counts from a "N passed, N failed[, N skipped]" line. */
function summaryTotals(output: string): Totals | null {
  const m = [...output.matchAll(/^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)].pop();
  return m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0) } : null;
}

const totals: Totals = { passed: 0, failed: 0, skipped: 0 };
const stages: string[] = [];

async function stage(name: string, command: string, args: string[], parse: ((output: string) => Totals | null) | null): Promise<void> {
  console.log(`\n=== ${name} ===`);
  const t0 = Date.now();
  const { code, output } = await run(command, args);
  const counted = parse?.(output) ?? null;
  if (counted) {
    totals.passed += counted.passed;
    totals.failed += counted.failed;
    totals.skipped += counted.skipped;
  }
  // A stage that failed without a failing test (a crash, a build error) still counts as a failure.
  if (code !== 0 && (!counted || counted.failed === 0)) totals.failed++;
  stages.push(
    `${name}: ${code === 0 ? 'ok' : `exit ${code}`}${counted ? ` (${counted.passed} passed, ${counted.failed} failed)` : ''}, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

await stage('build', node, [join(root, 'scripts', 'build.ts')], null);
await stage('typecheck', join(root, 'node_modules', '.bin', 'tsc'), ['-p', root], null);
await stage('typecheck (webview)', join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'webview')], null);
await stage('lint and format (Biome)', join(root, 'node_modules', '.bin', 'biome'), ['check', '--max-diagnostics=50', root], null);
await stage('vocabulary', node, [join(root, 'scripts', 'lint-vocabulary.ts')], null);
await stage('unit tests', node, ['--test', '--test-reporter=spec', 'test/unit/**/*.test.ts'], nodeTestTotals);
await stage('fault-matrix tests', node, ['--test', '--test-reporter=spec', 'test/fault-matrix/**/*.test.ts'], nodeTestTotals);
await stage('CLI on Node 18, 20 and the pinned Node', node, ['--test', '--test-reporter=spec', 'test/cli-node/**/*.test.ts'], nodeTestTotals);
await stage(
  'echo-cancellation tests (PipeWire)',
  node,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', 'test/pipewire/**/*.test.ts'],
  nodeTestTotals,
);
await stage('fleet tests (Prometheus)', node, ['--test', '--test-concurrency=1', '--test-reporter=spec', 'test/prometheus/**/*.test.ts'], nodeTestTotals);
await stage('VS Code tests', node, [join(root, 'test', 'vscode-tests.ts')], summaryTotals);

console.log(`\n${stages.join('\n')}`);
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exitCode = totals.failed > 0 ? 1 : 0;
