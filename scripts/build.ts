/**
 * Bundles the extension and the CLI with esbuild.
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
};

await Promise.all([
  buildWebview(production),
  build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.cjs' }),
  build({
    ...common,
    entryPoints: ['src/cli.ts'],
    outfile: 'dist/cli.cjs',
    banner: { js: '#!/usr/bin/env node' },
  }),
]);
