/**
 * Builds the dry-run tool (test/tools/llama-dry-run.cpp) against the fetched llama.cpp: its headers
 * from `.llama/src`, its libraries node-llama-cpp's prebuilt Vulkan ones (libllama-common parses
 * llama-server's arguments). node-llama-cpp ships no multimodal library, so llama.cpp's own
 * (tools/mtmd, for `--mmproj`) is compiled from the source once into `.llama/build/dry-run/mtmd/`
 * (a minute or two, two files at a time). The binary lands in
 * `.llama/build/dry-run/<hash of the source>/`, so a changed source builds anew and checkouts
 * sharing one `.llama/` never overwrite each other's tool.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
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

/** One source file to compile: its path in the llama.cpp source, and whether it is C. */
interface Unit {
  readonly path: string;
  readonly c: boolean;
}

/**
 * llama.cpp's multimodal library's sources, as its CMakeLists.txt lists them for the `mtmd` target,
 * and the hash library it links (vendor/hash: sha1.c is compiled as C++ there, the other .c as C).
 */
async function mtmdUnits(): Promise<Unit[]> {
  const cmake = await readFile(join(llamaPaths.source, 'tools', 'mtmd', 'CMakeLists.txt'), 'utf8');
  const block = /add_library\(mtmd\n([\s\S]*?)\n\s*\)/.exec(cmake);
  if (!block?.[1]) throw new Error('tools/mtmd/CMakeLists.txt lists no sources for the mtmd library');
  const mtmd = block[1]
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.endsWith('.cpp'))
    .map((f) => ({ path: `tools/mtmd/${f}`, c: false }));
  const hash = ['hash.cpp', 'sha1/sha1.c', 'xxhash/xxhash.c', 'sha256/sha256.c'].map((f) => ({
    path: `vendor/hash/${f}`,
    c: f.endsWith('.c') && f !== 'sha1/sha1.c',
  }));
  return [...mtmd, ...hash];
}

/** Compiles the multimodal library's objects that are not there yet, two at a time; returns them all. */
async function buildMtmdObjects(log: (line: string) => void): Promise<string[]> {
  const outDir = join(llamaPaths.build, 'dry-run', 'mtmd');
  await mkdir(outDir, { recursive: true });
  const units = await mtmdUnits();
  const jobs = units.map((u) => ({ u, o: join(outDir, `${u.path.replace(/[/.]/g, '_')}.o`) }));
  const objects = jobs.map((j) => j.o);
  const todo = jobs.filter(({ o }) => !existsSync(o));
  if (todo.length) log(`dry-run tool: compiling llama.cpp's multimodal library (${todo.length} files)`);
  const include = ['tools/mtmd', 'include', 'ggml/include', 'vendor', 'vendor/hash'].map((d) => `-I${join(llamaPaths.source, d)}`);
  const worker = async () => {
    for (let job = todo.shift(); job; job = todo.shift()) {
      const [compiler, lang] = job.u.c ? [process.env.CC ?? 'gcc', ['-x', 'c']] : [process.env.CXX ?? 'g++', ['-x', 'c++', '-std=c++17']];
      await run(compiler, [...lang, '-O1', '-fPIC', '-w', '-c', join(llamaPaths.source, job.u.path), ...include, '-o', `${job.o}.partial`], {
        maxBuffer: 16 * MiB,
      });
      await rename(`${job.o}.partial`, job.o);
    }
  };
  await Promise.all([worker(), worker()]);
  return objects;
}

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
  const mtmd = await buildMtmdObjects(log);
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
      ...mtmd,
      ...['include', 'ggml/include', 'src', 'common', 'tools/mtmd'].map((d) => `-I${join(src, d)}`),
      `-L${llamaPaths.vulkanLibs}`,
      ...LIBRARIES.map((l) => `-l:${l}`),
      `-Wl,-rpath,${llamaPaths.vulkanLibs}`,
      '-lpthread',
    ],
    { maxBuffer: 16 * MiB },
  );
  await rename(partial, tool);
  return tool;
}
