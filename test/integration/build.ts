/**
 * Bundles the extension-host test suite into out/test/integration/index.cjs (CommonJS, `vscode`
 * external) so the extension host can load it with `require`.
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/vscode/paths.ts';

export const suiteBundle = join(repoRoot, 'out', 'test', 'integration', 'index.cjs');

export async function buildSuite(): Promise<string> {
  await build({
    entryPoints: [join(repoRoot, 'test', 'integration', 'index.ts')],
    outfile: suiteBundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    external: ['vscode', 'koffi'],
    sourcemap: 'inline',
    // Shared helpers are ES modules that use import.meta.url; give them this bundle's URL.
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'error',
  });
  return suiteBundle;
}

if (import.meta.main) {
  console.log(await buildSuite());
}
