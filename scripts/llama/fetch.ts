/**
 * Fetches the real llama.cpp from the npm registry: node-llama-cpp's tarball for the llama.cpp source
 * it carries (a git bundle, cloned into `.llama/src`), and its Vulkan platform package for the
 * prebuilt libraries (into `.llama/vulkan`). Each tarball is checked against the integrity the
 * registry publishes for the pinned version before anything is extracted. Does nothing for a part
 * that is already there.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LLAMA_PACKAGES, llamaPaths } from './paths.ts';
import { MiB } from '../../src/core/units.ts';

const run = promisify(execFile);

/** Downloads one package's tarball with `npm pack` and checks its integrity; returns its path. */
async function packTarball(pkg: { spec: string; integrity: string }): Promise<string> {
  await mkdir(llamaPaths.packages, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await run(npm, ['pack', '--silent', '--pack-destination', llamaPaths.packages, pkg.spec], {
    cwd: llamaPaths.packages,
    maxBuffer: MiB,
  });
  const name = stdout.trim().split('\n').pop() ?? '';
  const tarball = join(llamaPaths.packages, name);
  const digest = `sha512-${createHash('sha512')
    .update(await readFile(tarball))
    .digest('base64')}`;
  if (digest !== pkg.integrity) {
    await rm(tarball, { force: true });
    throw new Error(`${pkg.spec}: the tarball's integrity is ${digest}, the pinned one is ${pkg.integrity}`);
  }
  return tarball;
}

/** Extracts the named members of a tarball into a fresh folder, then moves it into place. */
async function extract(tarball: string, members: string[], into: string, strip: number): Promise<void> {
  const staging = `${into}.partial`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', staging, `--strip-components=${strip}`, ...members]);
  await rm(into, { recursive: true, force: true });
  await rename(staging, into);
}

/** The llama.cpp source at `.llama/src`, cloned from node-llama-cpp's git bundle. */
export async function fetchLlamaSource(log: (line: string) => void): Promise<void> {
  if (existsSync(join(llamaPaths.source, 'include', 'llama.h'))) return;
  log(`Fetching the llama.cpp source from ${LLAMA_PACKAGES.source.spec}…`);
  const tarball = await packTarball(LLAMA_PACKAGES.source);
  const bundleDir = join(llamaPaths.packages, 'bundle');
  await extract(tarball, ['package/llama/gitRelease.bundle', 'package/llama/llama.cpp.info.json'], bundleDir, 2);
  const staging = `${llamaPaths.source}.partial`;
  await rm(staging, { recursive: true, force: true });
  await run('git', ['clone', '--quiet', join(bundleDir, 'gitRelease.bundle'), staging], { maxBuffer: MiB });
  await rm(llamaPaths.source, { recursive: true, force: true });
  await rename(staging, llamaPaths.source);
}

/** node-llama-cpp's prebuilt Vulkan libraries at `.llama/vulkan`. */
export async function fetchVulkanLibraries(log: (line: string) => void): Promise<void> {
  if (existsSync(join(llamaPaths.vulkanLibs, 'libggml-vulkan.so'))) return;
  log(`Fetching llama.cpp's prebuilt Vulkan libraries from ${LLAMA_PACKAGES.vulkan.spec}…`);
  const tarball = await packTarball(LLAMA_PACKAGES.vulkan);
  await extract(tarball, ['package/bins/linux-x64-vulkan'], llamaPaths.vulkanLibs, 3);
}
