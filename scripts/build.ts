/**
 * Bundles the extension and the CLI with esbuild, and the NVML worker thread they both start
 * (dist/nvml-worker.cjs, found beside the bundle that starts it).
 * `vscode` is provided by the editor and `koffi` ships as its own package with a native module,
 * so both stay external.
 */
import { build, type BuildOptions } from 'esbuild';
import { buildWebview } from './build-webview.ts';

const production = process.argv.includes('--production');

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
  build({ ...common, entryPoints: ['src/core/gpu/nvml-worker.ts'], outfile: 'dist/nvml-worker.cjs' }),
  build({
    ...common,
    entryPoints: ['src/cli.ts'],
    outfile: 'dist/cli.cjs',
    banner: { js: '#!/usr/bin/env node' },
  }),
]);
