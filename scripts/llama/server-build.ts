/**
 * Builds the real `llama-server` and `llama-fit-params` the tests run, CPU only, from the llama.cpp
 * source in `.llama/src` into `.llama/build/server-cpu` (about 7–8 minutes on 2 cores). Does nothing
 * when both binaries are there. cmake's output goes to a log file beside the build; its progress
 * lines ("[ 45%] …") are printed as they come, so a long build is seen moving.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { resolveCommand } from '../../src/core/command-path.ts';
import { llamaPaths } from './paths.ts';

/** The build folder and the flags: CPU only, no network code, portable instructions, no tests or examples. */
export const SERVER_BUILD_DIR = join(llamaPaths.build, 'server-cpu');
export const SERVER_BUILD_FLAGS = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DLLAMA_CURL=OFF',
  '-DGGML_NATIVE=OFF',
  '-DLLAMA_BUILD_TESTS=OFF',
  '-DLLAMA_BUILD_EXAMPLES=OFF',
] as const;
export const SERVER_TARGETS = ['llama-server', 'llama-fit-params'] as const;

/** Where the built programs are. */
export const serverBinaries = {
  server: join(SERVER_BUILD_DIR, 'bin', 'llama-server'),
  fitParams: join(SERVER_BUILD_DIR, 'bin', 'llama-fit-params'),
};

/** Runs one command, its output appended to `logPath`; progress lines go to `log`. Rejects on a non-zero exit. */
function step(program: string, args: string[], logPath: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(logPath, { flags: 'a' });
    out.write(`$ ${program} ${args.join(' ')}\n`);
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    let lastPercent = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const percent = /^\[\s*(\d+)%\]/.exec(line)?.[1];
        // One line per tenth of the way, not one per object file.
        if (percent && percent.slice(0, -1) !== lastPercent.slice(0, -1)) {
          lastPercent = percent;
          log(`  ${line.trim()}`);
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => out.write(chunk));
    child.once('error', (err) => {
      out.end();
      reject(err);
    });
    child.once('close', (code, signal) => {
      out.end();
      if (code === 0) resolve();
      else reject(new Error(`${program} ${args[0]} … ${signal ? `was killed by ${signal}` : `exited with code ${code}`}; its output is in ${logPath}`));
    });
  });
}

/** Builds the two programs when either is missing. */
export async function buildLlamaServer(log: (line: string) => void): Promise<void> {
  if (existsSync(serverBinaries.server) && existsSync(serverBinaries.fitParams)) return;
  if (!existsSync(join(llamaPaths.source, 'CMakeLists.txt'))) throw new Error(`the llama.cpp source is not at ${llamaPaths.source}`);
  const missing: string[] = [];
  for (const tool of ['cmake', 'g++', 'make']) if (!(await resolveCommand(tool, process.env.PATH)).ok) missing.push(tool);
  if (missing.length) throw new Error(`building llama-server needs ${missing.join(', ')}, not found on PATH (Debian: sudo apt-get install cmake g++ make)`);
  await mkdir(SERVER_BUILD_DIR, { recursive: true });
  const logPath = join(llamaPaths.build, 'server-cpu.log');
  log(`Building llama-server and llama-fit-params (CPU only) into ${SERVER_BUILD_DIR}; about 8 minutes on 2 cores, log in ${logPath}…`);
  await step('cmake', ['-S', llamaPaths.source, '-B', SERVER_BUILD_DIR, ...SERVER_BUILD_FLAGS], logPath, log);
  const jobs = String(availableParallelism());
  await step('cmake', ['--build', SERVER_BUILD_DIR, `-j${jobs}`, '--target', ...SERVER_TARGETS], logPath, log);
  for (const path of Object.values(serverBinaries)) if (!existsSync(path)) throw new Error(`the build finished but ${path} is not there; see ${logPath}`);
  log('llama-server and llama-fit-params are built.');
}
