/**
 * The terminal launcher: the POSIX script runs the built CLI with the runtime it names, passes every
 * argument through unchanged, and survives paths with spaces and quotes. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { launcherScript } from '../../src/core/cli-launcher.ts';
import { repoRoot } from '../helpers/fake-nvml.ts';

const run = promisify(execFile);

describe('the vram-guard launcher', () => {
  it('runs the CLI with the given runtime, from a folder whose path has spaces and quotes', async () => {
    const base = await mkdtemp(join(tmpdir(), 'vram guard '));
    const ext = join(base, "it's an extension", 'dist');
    await mkdir(ext, { recursive: true });
    for (const f of ['cli.cjs', 'cli-main.cjs']) await copyFile(join(repoRoot, 'dist', f), join(ext, f));
    const script = launcherScript('linux', process.execPath, join(ext, 'cli.cjs'), false);
    assert.equal(script.name, 'vram-guard');
    const bin = join(base, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, script.name), script.content, { mode: 0o755 });
    // Found on the PATH, as a terminal finds it.
    const { stdout } = await run('sh', ['-c', 'vram-guard "$@"', 'sh', 'history', 'export', '--dir', join(base, 'no such; $(folder)')], {
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: base },
    });
    assert.equal(stdout.split('\n')[0], 'time,gpu,used_mib,total_mib,ram_used_mib,ram_total_mib,swap_used_mib,swap_total_mib,event_kind,event');
    const failed = await run(join(bin, script.name), ['stauts']).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(failed?.code, 64);
    assert.match(failed!.stderr, /did you mean "status"/);
  });

  it('runs Electron as Node only where the runtime is Electron', () => {
    assert.match(
      launcherScript('linux', '/usr/share/code/code', '/x/dist/cli.cjs', true).content,
      /^ELECTRON_RUN_AS_NODE=1 exec '\/usr\/share\/code\/code' '\/x\/dist\/cli\.cjs' "\$@"$/m,
    );
    assert.doesNotMatch(launcherScript('linux', '/srv/node', '/x/dist/cli.cjs', false).content, /ELECTRON_RUN_AS_NODE/);
    const win = launcherScript('win32', 'C:\\Program Files\\Code\\Code.exe', 'C:\\ext\\dist\\cli.cjs', true);
    assert.equal(win.name, 'vram-guard.cmd');
    assert.match(win.content, /\r\nsetlocal\r\nset ELECTRON_RUN_AS_NODE=1\r\n"C:\\Program Files\\Code\\Code\.exe" "C:\\ext\\dist\\cli\.cjs" %\*\r\n$/);
  });
});
