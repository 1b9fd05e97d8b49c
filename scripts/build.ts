/**
 * Bundles the extension and the CLI with esbuild, and the NVML worker process they both start
 * (dist/nvml-worker.cjs, found beside the bundle that starts it).
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
  // Bundled, the worker's script is found by __dirname; import.meta.url only serves the unbundled sources.
  define: { 'import.meta.url': 'undefined' },
};

await Promise.all([
  buildWebview(production),
  build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.cjs' }),
  // A process of its own, started with the runtime of whoever starts it: the CLI's Node 18 included.
  build({ ...common, entryPoints: ['src/core/gpu/nvml-worker.ts'], outfile: 'dist/nvml-worker.cjs', target: CLI_NODE_TARGET }),
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
