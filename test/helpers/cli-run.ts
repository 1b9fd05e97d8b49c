/** Runs the built CLI (dist/cli.cjs) as a user would, and gives its exit code and output. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './fake-nvml.ts';

export const cliPath = join(repoRoot, 'dist', 'cli.cjs');

/**
 * A runtime folder of this test process's own: the CLI keeps the machine's shared reservations
 * there, so reservations made by other runs on the same machine cannot change what a test sees.
 */
export const privateRuntimeDir = mkdtempSync(join(tmpdir(), 'vram-guard-test-runtime-'));

/**
 * A home folder of this test process's own: the CLI looks for VS Code's global storage (measured
 * footprints, history) under HOME, and must not read what the user's own VS Code left there.
 */
export const privateHome = mkdtempSync(join(tmpdir(), 'vram-guard-test-home-'));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `env` is all the CLI sees besides PATH and a private HOME and XDG_RUNTIME_DIR. `node`: another Node executable to run it with
 * (the default is the one running the tests); `interruptWhen`: Ctrl-C once stdout matches.
 */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { interruptWhen?: (stdout: string) => boolean; timeoutMs?: number; node?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.node ?? process.execPath, [cliPath, ...args], {
      env: { PATH: process.env.PATH, HOME: privateHome, XDG_RUNTIME_DIR: privateRuntimeDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (options.interruptWhen?.(stdout)) child.kill('SIGINT');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}
