/**
 * Builds the dry-run tool (test/tools/llama-dry-run.cpp) against the fetched llama.cpp: its headers
 * from `.llama/src`, its libraries node-llama-cpp's prebuilt Vulkan ones (libllama-common parses
 * llama-server's arguments). The binary lands in `.llama/build/dry-run/<hash of the source>/`, so a
 * changed source builds anew and checkouts sharing one `.llama/` never overwrite each other's tool.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { llamaPaths } from './paths.ts';
import { MiB } from '../../src/core/units.ts';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The tool's source file. */
export const DRY_RUN_SOURCE = join(root, 'test', 'tools', 'llama-dry-run.cpp');

/** The libraries the tool links (node-llama-cpp's file names for the Vulkan build). */
const LIBRARIES = ['libllama-common.so', 'libllama.vulkan.v0.5.0.so', 'libggml.vulkan.v0.5.0.so', 'libggml-base.so'];

/** Where the tool built from the current source is (it may not be built yet). */
export function dryRunToolPath(): string {
  const hash = createHash('sha256').update(readFileSync(DRY_RUN_SOURCE)).digest('hex').slice(0, 16);
  return join(llamaPaths.build, 'dry-run', hash, 'llama-dry-run');
}

/** Builds the tool unless the current source's build is there; returns its path. */
export async function buildDryRunTool(log: (line: string) => void): Promise<string> {
  const tool = dryRunToolPath();
  if (existsSync(tool)) {
    log(`dry-run tool: ${tool} is up to date`);
    return tool;
  }
  for (const lib of LIBRARIES)
    if (!existsSync(join(llamaPaths.vulkanLibs, lib))) throw new Error(`${join(llamaPaths.vulkanLibs, lib)} is missing: fetch the Vulkan libraries first`);
  await mkdir(dirname(tool), { recursive: true });
  const partial = `${tool}.partial`;
  const src = llamaPaths.source;
  log(`dry-run tool: building ${tool}`);
  await run(
    process.env.CXX ?? 'g++',
    [
      '-std=c++17',
      '-O1',
      '-o',
      partial,
      DRY_RUN_SOURCE,
      ...['include', 'ggml/include', 'src', 'common'].map((d) => `-I${join(src, d)}`),
      `-L${llamaPaths.vulkanLibs}`,
      ...LIBRARIES.map((l) => `-l:${l}`),
      `-Wl,-rpath,${llamaPaths.vulkanLibs}`,
    ],
    { maxBuffer: 16 * MiB },
  );
  await rename(partial, tool);
  return tool;
}
