/**
 * Real processes under the names and arguments of each GPU process kind: a small C program
 * (test/fixtures/gpu-process) compiled once, copied into a private folder under the kind's program
 * name, and run with its arguments. /proc shows it as the real server would be shown: its exe,
 * cmdline, comm, and a listening port the OS picked.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './fake-nvml.ts';

const run = promisify(execFile);
const source = join(repoRoot, 'test', 'fixtures', 'gpu-process', 'gpu_process.c');

let built: Promise<string> | null = null;

/** Compiles the stand-in once per source version (and once per test process). */
export function buildGpuProcess(): Promise<string> {
  built ??= compile();
  return built;
}

async function compile(): Promise<string> {
  const code = await readFile(source);
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  // In this checkout's .cache/, like the fake NVML: not a shared temp folder anyone could fill first.
  const dir = join(repoRoot, '.cache', 'gpu-process', hash);
  const bin = join(dir, 'gpu-process');
  if (existsSync(bin)) return bin;
  await mkdir(dir, { recursive: true });
  const partial = `${bin}.${process.pid}.tmp`;
  try {
    await run('gcc', ['-O2', '-Wall', '-o', partial, source]);
  } catch (err) {
    throw new Error(`Could not compile the GPU process stand-in with gcc (install it: apt-get install gcc): ${String(err)}`);
  }
  await rename(partial, bin);
  return bin;
}

export interface StartedProcess {
  child: ChildProcess;
  pid: number;
  /** The port it listens on (0 with FAKE_NO_LISTEN). */
  port: number;
  stop(): void;
}

/** Runs the stand-in as `program` (a file name, e.g. "llama-server") with `args`; resolves once it listens. */
export async function startAs(program: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<StartedProcess> {
  const bin = await buildGpuProcess();
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-kind-'));
  const path = join(dir, program);
  await copyFile(bin, path);
  const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { PATH: process.env.PATH, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${program} exited with ${code} before listening`)));
  });
  return { child, pid: child.pid!, port, stop: () => child.kill('SIGKILL') };
}
