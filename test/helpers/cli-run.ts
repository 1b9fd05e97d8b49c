/** Runs the built CLI (dist/cli.cjs) as a user would, and gives its exit code and output. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './fake-nvml.ts';

export const cliPath = join(repoRoot, 'dist', 'cli.cjs');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, options: { interruptWhen?: (stdout: string) => boolean; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 10_000);
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
