/**
 * `npm run setup`: installs the Debian packages `npm start` needs that are missing: g++, make,
 * python3 and libkrb5-dev (code-server's native modules are built on first start) and Chromium
 * (`npm start -- --check` and the tests drive the page with it). One `apt-get install`, as root or
 * through sudo. The full test suite needs more (PipeWire, gcc): `.ci/run` installs those.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromiumPath } from './vscode/browser.ts';
import { missingDebianPackages } from './vscode/install.ts';

function chromiumMissing(): boolean {
  try {
    chromiumPath();
    return false;
  } catch {
    return true;
  }
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    child.on('error', (err) => {
      process.stderr.write(`npm run setup: could not run ${command}: ${err.message}\n`);
      resolve(127);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

const packages = [...missingDebianPackages(), ...(chromiumMissing() ? ['chromium'] : [])];
if (!packages.length) {
  process.stdout.write('npm run setup: everything npm start needs is installed.\n');
} else if (!existsSync('/usr/bin/apt-get')) {
  process.stderr.write(`npm run setup: this is not a Debian-like system (no apt-get). Install these with your package manager: ${packages.join(', ')}\n`);
  process.exitCode = 1;
} else {
  const root = process.getuid?.() === 0;
  const apt = (args: string[]) => (root ? run('apt-get', args) : run('sudo', ['apt-get', ...args]));
  process.stdout.write(`npm run setup: installing ${packages.join(' ')}${root ? '' : ' (through sudo)'}\n`);
  const code = (await apt(['update', '-qq'])) || (await apt(['install', '-y', '--no-install-recommends', ...packages]));
  if (code !== 0) {
    process.stderr.write(`npm run setup: apt-get failed (exit ${code}); run it yourself: ${root ? '' : 'sudo '}apt-get install -y ${packages.join(' ')}\n`);
    process.exitCode = 1;
  } else process.stdout.write('npm run setup: done. Now: npm start\n');
}
