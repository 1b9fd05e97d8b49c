/**
 * Where the real-VS-Code tooling keeps things. Everything downloaded lives under `.vscode-test/`
 * (git-ignored), so a second run reuses it.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const repoRoot = resolve(here, '..', '..');
export const cacheRoot = process.env.VRAM_GUARD_VSCODE_CACHE ? resolve(process.env.VRAM_GUARD_VSCODE_CACHE) : join(repoRoot, '.vscode-test');

/** The code-server release whose bundled VS Code we run (VS Code 1.139.1). */
export const CODE_SERVER_VERSION = '4.139.1';

export const codeServerPrefix = join(cacheRoot, `code-server-${CODE_SERVER_VERSION}`);
export const codeServerPackage = join(codeServerPrefix, 'node_modules', 'code-server');
/** The code-server launcher (auth, health check, `--install-extension`). */
export const codeServerEntry = join(codeServerPackage, 'out', 'node', 'entry.js');
/** The plain VS Code server inside it, which accepts `--enable-smoke-test-driver`. */
export const vscodeServerMain = join(codeServerPackage, 'lib', 'vscode', 'out', 'server-main.js');
export const vscodeProductJson = join(codeServerPackage, 'lib', 'vscode', 'product.json');
export const installedMarker = join(codeServerPrefix, '.installed');

/** Node headers matching the running Node, for building code-server's native modules offline. */
export function nodeHeadersPrefix(nodeVersion = process.versions.node): string {
  return join(cacheRoot, `node-headers-${nodeVersion}`);
}

export const testResults = join(repoRoot, 'test-results');
export const outDir = join(repoRoot, 'out');
