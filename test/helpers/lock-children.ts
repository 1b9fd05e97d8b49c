/** Other processes that write the shared files (test/fixtures/locks/lock-child.ts), driven by their output. */
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import type { FakeClock } from './fake-clock.ts';
import { repoRoot } from './fake-nvml.ts';

export const lockChildScript = join(repoRoot, 'test', 'fixtures', 'locks', 'lock-child.ts');

export interface LockChild {
  child: ChildProcess;
  pid: number;
  /** Resolves once the child has printed a line equal to `text` (rejects if it exits first). */
  line(text: string): Promise<void>;
  /** What it printed, so far. */
  stdout(): string;
  /** Resolves when it exits, with its code (or signal) and output. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export function spawnLockChild(args: string[], options: SpawnOptions = {}): LockChild {
  const child = spawn(process.execPath, [lockChildScript, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    const lines = stdout.split('\n');
    for (const w of [...waiters])
      if (lines.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return {
    child,
    pid: child.pid as number,
    stdout: () => stdout,
    line: (text) =>
      stdout.split('\n').includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ text, resolve });
            void exit.then((r) => reject(new Error(`the child exited (${r.code ?? r.signal}) before printing "${text}": ${r.stderr || r.stdout}`)));
          }),
    exit,
  };
}

/** Runs a child to its end; rejects unless it exits 0 having printed "done". */
export async function runLockChild(args: string[]): Promise<string> {
  const c = spawnLockChild(args);
  c.child.stdin?.end();
  const r = await c.exit;
  if (r.code !== 0 || !r.stdout.split('\n').includes('done')) throw new Error(`lock child ${args.join(' ')} ended ${r.code ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Moves `clock` on by `stepMs` at a time until `promise` settles or `maxSteps` have passed; says
 * whether it settled and how. A step is taken only while a timer waits on the clock: while the code
 * under test is busy with real I/O the clock stands still, so how fast the machine is changes
 * nothing about how much clock time passes before each try.
 */
export async function advanceUntilSettled<T>(
  clock: FakeClock,
  promise: Promise<T>,
  stepMs: number,
  maxSteps: number,
): Promise<{ settled: false } | { settled: true; value: T } | { settled: true; error: unknown }> {
  let outcome: { settled: true; value: T } | { settled: true; error: unknown } | null = null;
  void promise.then(
    (value) => (outcome = { settled: true, value }),
    (error: unknown) => (outcome = { settled: true, error }),
  );
  for (let steps = 0; steps < maxSteps && !outcome; ) {
    if (clock.pendingDelays().length > 0) {
      await clock.advance(stepMs);
      steps++;
    } else await new Promise((r) => setImmediate(r));
  }
  return outcome ?? { settled: false };
}
