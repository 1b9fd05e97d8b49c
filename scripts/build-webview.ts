/**
 * Bundles the dashboard page for the browser: webview/main.ts → dist/webview/dashboard.js (one IIFE
 * with uPlot, the vscode-elements controls used and the shared protocol) and webview/dashboard.css
 * (with uPlot's stylesheet) → dist/webview/dashboard.css. The page loads nothing else.
 *
 *   node scripts/build-webview.ts [--production]
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export async function buildWebview(production = process.argv.includes('--production')): Promise<void> {
  const common: BuildOptions = {
    absWorkingDir: root,
    bundle: true,
    platform: 'browser',
    target: ['chrome120'],
    sourcemap: production ? false : 'linked',
    minify: production,
    logLevel: 'warning',
    legalComments: 'none',
  };
  await Promise.all([
    build({ ...common, entryPoints: ['webview/main.ts'], format: 'iife', outfile: 'dist/webview/dashboard.js' }),
    build({ ...common, entryPoints: ['webview/dashboard.css'], outfile: 'dist/webview/dashboard.css' }),
  ]);
}

if (import.meta.main) await buildWebview();
