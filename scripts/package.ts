/**
 * Builds one VSIX per platform target, each shipping koffi with the native package for that
 * platform only. Usage: `npm run package [-- --target linux-x64 ...]` (default: every target below).
 * Output: build/vram-guard-<target>.vsix, and the sizes printed.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** VS Code target → koffi's native package. macOS has no NVML, so there is no darwin build. */
const TARGETS: Record<string, string> = {
  'linux-x64': '@koromix/koffi-linux-x64',
  'linux-arm64': '@koromix/koffi-linux-arm64',
  'alpine-x64': '@koromix/koffi-linux-x64',
  'win32-x64': '@koromix/koffi-win32-x64',
  'win32-arm64': '@koromix/koffi-win32-arm64',
};

/** The files of koffi that run; its C++ sources, docs and build scripts stay out. */
const KOFFI_FILES = [
  'package.json',
  'LICENSE.txt',
  'index.cjs',
  'index.js',
  'indirect.cjs',
  'indirect.js',
  'src/koffi/index.cjs',
  'src/koffi/index.js',
  'src/koffi/indirect.cjs',
  'src/koffi/indirect.js',
  'src/koffi/src/static.cjs',
  'src/koffi/src/static.js',
  'src/koffi/src/trampolines.cjs',
];

function requestedTargets(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--target') out.push(argv[++i] ?? '');
    else if (arg?.startsWith('--target=')) out.push(arg.slice('--target='.length));
  }
  for (const t of out) {
    if (!TARGETS[t]) throw new Error(`Unknown target "${t}". Known: ${Object.keys(TARGETS).join(', ')}`);
  }
  return out.length ? out : Object.keys(TARGETS);
}

async function nativePackage(name: string, version: string): Promise<string> {
  const installed = join(root, 'node_modules', name);
  try {
    const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { version: string };
    if (pkg.version === version) return installed;
  } catch {
    // not installed for this platform: fetch it from the registry below
  }
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-koffi-'));
  const { stdout } = await run('npm', ['pack', `${name}@${version}`, '--silent', '--pack-destination', dir], { cwd: dir });
  const file = stdout.trim().split('\n').pop();
  if (!file) throw new Error(`npm pack ${name}@${version} did not print the name of the tarball it wrote`);
  const tarball = join(dir, file);
  await run('tar', ['-xzf', tarball, '-C', dir]);
  return join(dir, 'package');
}

async function stage(target: string, koffiVersion: string): Promise<string> {
  const dir = join(root, 'build', `stage-${target}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  for (const key of ['devDependencies', 'scripts', 'allowScripts', 'private']) delete manifest[key];
  // vsce ships the dependencies npm lists: koffi, and the one native package staged beside it.
  manifest.dependencies = { koffi: koffiVersion };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const file of ['README.md', 'LICENSE', 'CHANGELOG.md', '.vscodeignore']) await cp(join(root, file), join(dir, file));
  await cp(join(root, 'dist'), join(dir, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  // The extension starts NVML's worker process from beside its bundle: without it there is no NVML.
  await stat(join(dir, 'dist', 'nvml-worker.cjs')).catch(() => {
    throw new Error('dist/nvml-worker.cjs is missing from the build: scripts/build.ts must bundle src/core/gpu/nvml-worker.ts');
  });
  await cp(join(root, 'media'), join(dir, 'media'), { recursive: true });
  // The README (the extension's page in VS Code) links to the pages and images in docs/; relative links
  // resolve inside the installed extension, so the whole folder ships for them to open there too.
  await cp(join(root, 'docs'), join(dir, 'docs'), { recursive: true });
  for (const file of KOFFI_FILES) {
    await cp(join(root, 'node_modules', 'koffi', file), join(dir, 'node_modules', 'koffi', file));
  }
  const nativeName = TARGETS[target];
  if (!nativeName) throw new Error(`Unknown target "${target}". Known: ${Object.keys(TARGETS).join(', ')}`);
  const native = await nativePackage(nativeName, koffiVersion);
  const keep = target === 'alpine-x64' ? 'musl_x64' : undefined;
  await cp(native, join(dir, 'node_modules', nativeName), {
    recursive: true,
    // alpine gets only the musl build, linux-x64 only the glibc one
    filter: (src) => (keep ? !/linux_x64$/.test(src) : !/musl_x64$/.test(src)),
  });
  return dir;
}

async function main(): Promise<void> {
  const targets = requestedTargets(process.argv.slice(2));
  await run(process.execPath, [join(root, 'scripts', 'build.ts'), '--production'], { cwd: root });
  const koffiVersion = (JSON.parse(await readFile(join(root, 'node_modules', 'koffi', 'package.json'), 'utf8')) as { version: string }).version;
  const vsce = join(root, 'node_modules', '.bin', 'vsce');
  const rows: string[] = [];
  for (const target of targets) {
    const dir = await stage(target, koffiVersion);
    const out = join(root, 'build', `vram-guard-${target}.vsix`);
    await run(vsce, ['package', '--allow-missing-repository', '--no-rewrite-relative-links', '--target', target, '--out', out], { cwd: dir });
    const size = (await stat(out)).size;
    rows.push(`${target.padEnd(12)} ${(size / 1024 / 1024).toFixed(2)} MB  build/vram-guard-${target}.vsix`);
  }
  // Restore the development build (with source maps) the tests use.
  await run(process.execPath, [join(root, 'scripts', 'build.ts')], { cwd: root });
  console.log(rows.join('\n'));
}

await main();
