/**
 * The Node.js versions the CLI (dist/cli.cjs) is tested on, besides the pinned one the project runs
 * on: the oldest it supports on each line it supports, and one too old to run it (to see the
 * one-line refusal). Each is the npm `node` package installed into its own prefix,
 * .node-versions/<name>/, from the npm registry.
 *
 *   node scripts/node-versions.ts            installs the missing ones (npm run setup:node-versions)
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface TestedNode {
  /** The folder under .node-versions/, and the name tests print. */
  name: string;
  /** The exact version of the npm `node` package. */
  version: string;
  /** Whether the CLI supports it (false: it must refuse in one line). */
  supported: boolean;
}

export const TESTED_NODES: readonly TestedNode[] = [
  // Debian 12 and Ubuntu 24.04 ship 18.19.
  { name: '18', version: '18.19.0', supported: true },
  // The oldest 20 the CLI's process library supports.
  { name: '20', version: '20.5.0', supported: true },
  // Ubuntu 22.04 and Debian 11 ship 12.22: too old.
  { name: '12', version: '12.22.12', supported: false },
];

export const NODE_VERSIONS_DIR = join(root, '.node-versions');

/** Where the `node` binary of a tested version lies once installed. */
export function nodeBinary(node: TestedNode): string {
  return join(NODE_VERSIONS_DIR, node.name, 'node_modules', 'node', 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
}

export const INSTALL_HINT = 'npm run setup:node-versions';

async function install(node: TestedNode): Promise<void> {
  const prefix = join(NODE_VERSIONS_DIR, node.name);
  await mkdir(prefix, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  await promisify(execFile)(npm, ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node@${node.version}`], {
    cwd: prefix,
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const node of TESTED_NODES) {
    const binary = nodeBinary(node);
    if (existsSync(binary)) {
      process.stdout.write(`Node ${node.version}: ${binary}\n`);
      continue;
    }
    process.stdout.write(`Installing Node ${node.version} into .node-versions/${node.name}…\n`);
    try {
      await install(node);
    } catch (err) {
      process.stderr.write(`Could not install Node ${node.version} from the npm registry: ${(err as Error).message}\n`);
      process.exitCode = 1;
      continue;
    }
    if (!existsSync(binary)) {
      process.stderr.write(`npm installed node@${node.version} but ${binary} is missing (did its install script run?)\n`);
      process.exitCode = 1;
    }
  }
}
