/**
 * The servers files that tell a `vram-guard exporter` service which tasks and servers the VS Code
 * windows run: one per window, merged by the reader, kept in step with the registry by the editor.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readServersDir, serversDirPath, serversFilePath, writeServersFile } from '../../../src/core/exporter/servers-file.ts';
import { ServerRegistry } from '../../../src/core/servers/server-registry.ts';
import { syncServersFile } from '../../../src/vscode/servers/servers-file-sync.ts';
import { pollUntil } from '../../helpers/servers.ts';

const log = { warn: (m: string) => assert.fail(m) } as unknown as Parameters<typeof syncServersFile>[2];

describe('servers files', () => {
  it('two windows each keep their own file; the exporter reads both', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-servers-'));
    // A second "window": another live process.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    t.after(() => other.kill('SIGKILL'));
    await writeServersFile(serversFilePath(dir, process.pid), [
      { name: 'llama-chat', kind: 'llama-server', rootPid: 4242, baseUrl: 'http://127.0.0.1:8080', gpu: 0, expectedBytes: 3 * 2 ** 30 },
    ]);
    await writeServersFile(
      serversFilePath(dir, other.pid!),
      [{ name: 'whisper', kind: 'whisper-cpp', rootPid: 4343, baseUrl: 'http://localhost:8081/', gpu: 1 }],
      other.pid!,
    );
    const reading = await readServersDir(dir);
    assert.deepEqual(reading.problems, []);
    assert.deepEqual(reading.owners.map((o) => [o.name, o.kind, o.rootPid, o.baseUrl, o.gpu, o.expectedBytes]).sort(), [
      ['llama-chat', 'llama-server', 4242, 'http://127.0.0.1:8080', 0, 3 * 2 ** 30],
      ['whisper', 'whisper-cpp', 4343, 'http://localhost:8081', 1, null],
    ]);
  });

  it("the editor writes this window's tasks when the registry changes and removes its file on shutdown", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'vram-guard-state-'));
    const registry = new ServerRegistry();
    const sync = syncServersFile(registry, stateDir, log);
    const file = serversFilePath(serversDirPath(stateDir));
    registry.track('exec-1', { name: 'train (shell task)', pid: 5151 });
    await pollUntil(() => existsSync(file), 'the servers file', 3000);
    const written = JSON.parse(await readFile(file, 'utf8')) as { writerPid: number; owners: unknown[] };
    assert.equal(written.writerPid, process.pid);
    assert.deepEqual(written.owners, [{ name: 'train (shell task)', kind: 'task', rootPid: 5151, baseUrl: null, gpu: null, expectedBytes: null }]);
    assert.deepEqual(
      (await readServersDir(serversDirPath(stateDir))).owners.map((o) => o.name),
      ['train (shell task)'],
    );
    registry.untrack('exec-1');
    await pollUntil(() => !existsSync(file), 'the file to go when nothing runs', 3000);
    registry.track('exec-2', { name: 'eval', pid: 5252 });
    await pollUntil(() => existsSync(file), 'the file again', 3000);
    sync.dispose();
    await pollUntil(() => !existsSync(file), 'the file removed on shutdown', 3000);
  });
});
