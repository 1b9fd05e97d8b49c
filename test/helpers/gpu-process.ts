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
  /** The first match of `pattern` in everything it has printed so far or prints later. */
  printed(pattern: RegExp): Promise<RegExpExecArray>;
  stop(): void;
}

/** Runs the stand-in as `program` (a file name, e.g. "llama-server") with `args`; resolves once it listens. */
export async function startAs(program: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<StartedProcess> {
  const bin = await buildGpuProcess();
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-kind-'));
  const path = join(dir, program);
  await copyFile(bin, path);
  const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { PATH: process.env.PATH, ...env } });
  // Everything it prints is kept, so a line that arrives in the same chunk as another is never missed.
  let out = '';
  const printed = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const look = () => {
        const m = pattern.exec(out);
        if (!m) return false;
        child.stdout!.off('data', onData);
        resolve(m);
        return true;
      };
      const onData = () => void look();
      if (look()) return;
      child.stdout!.on('data', onData);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${program} exited with ${code} before printing ${pattern}`)));
    });
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const port = Number((await printed(/listening (\d+)/))[1]);
  return { child, pid: child.pid!, port, printed, stop: () => child.kill('SIGKILL') };
}
