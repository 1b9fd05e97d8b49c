/**
 * Bundles the extension and the CLI with esbuild.
 * `vscode` is provided by the editor and `koffi` ships as its own package with a native module,
 * so both stay external.
 * The CLI is two files: dist/cli.cjs, the Node.js version check in ES5 (so an old Node prints one
 * line, never a syntax error), which loads dist/cli-main.cjs, the CLI built for Node 18.
 */
import { build, type BuildOptions } from 'esbuild';
import { buildWebview } from './build-webview.ts';

const production = process.argv.includes('--production');

/** The oldest Node.js the CLI runs on (package.json engines.node); the extension runs on the editor's. */
const CLI_NODE_TARGET = 'node18.19';

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode', 'koffi'],
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  legalComments: 'none',
};

await Promise.all([
  buildWebview(production),
  build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.cjs' }),
  build({
    ...common,
    entryPoints: ['src/cli.ts'],
    outfile: 'dist/cli-main.cjs',
    target: CLI_NODE_TARGET,
  }),
  build({
    entryPoints: ['src/cli-node-check.cjs'],
    outfile: 'dist/cli.cjs',
    bundle: false,
    format: 'cjs',
    target: 'es5',
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  }),
]);
