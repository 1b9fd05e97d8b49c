/**
 * The build of the task's llama-server, from its `--version`: the real v0.5.0 binary, and stand-ins
 * printing what older llama.cpp builds print (common/build-info.cpp.in before the semantic
 * versions: "version: 7217 (a1b2c3d4)"), which change what the estimate sizes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { llamaServerBuild, parseLlamaVersion, runLlamaVersion, taskLlamaBuild } from '../../../src/core/estimate/llama-build.ts';
import { resolveModelNeed } from '../../../src/core/estimate/server-need.ts';
import { realLlama, tinyLlamaModel } from '../../helpers/real-llama-server.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vram-guard-llama-build-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
/** An executable that prints `line` to stderr as llama.cpp does and counts its runs in a file beside it. */
async function standIn(line: string): Promise<{ path: string; runs: () => Promise<number> }> {
  const path = join(dir, `llama-server-${++n}`);
  const count = `${path}.runs`;
  await writeFile(path, `#!/bin/sh\necho run >> '${count}'\necho '${line}' >&2\necho 'built with GNU 12.2.0 for x86_64-linux-gnu' >&2\n`);
  await chmod(path, 0o755);
  return { path, runs: async () => (await readFile(count, 'utf8').catch(() => '')).split('\n').filter(Boolean).length };
}

const env = { PATH: process.env.PATH };

describe('llama-server --version', () => {
  it('the real v0.5.0 build: its version line read as printed, sized with v0.5.0 graph and placement', async () => {
    const { server } = realLlama();
    const { stderr, stdout } = await promisify(execFile)(server, ['--version']);
    const printed = `${stdout}\n${stderr}`.split('\n').find((l) => l.startsWith('version: '));
    assert.ok(printed, 'llama-server --version printed a version line');
    const r = await runLlamaVersion(server, { env });
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.build.line, printed.trim());
    assert.match(r.build.version ?? '', /^0\.5\.0/);
    assert.equal(r.build.graph, 'current');
    assert.equal(r.build.outputLayerFirst, true);
  });

  it('build 7217 (before December 2025): the graph before June 2026 and -ngl without the output layer first', async () => {
    const s = await standIn('version: 7217 (a1b2c3d4)');
    const r = await runLlamaVersion(s.path, { env });
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(
      [r.build.build, r.build.graph, r.build.outputLayerFirst, r.build.label],
      [7217, 'before-2026-06', false, 'llama.cpp build 7217 (a1b2c3d4)'],
    );
    const b8000 = parseLlamaVersion('version: 8000 (0123abcd)\n');
    assert.deepEqual([b8000?.graph, b8000?.outputLayerFirst], ['before-2026-06', true]);
    assert.equal(parseLlamaVersion('version: 0.4.2 (build 12, commit abc)\n'), null, 'a semantic version below 0.5.0 is not placed');
  });

  it('is asked once per executable, and again when the file changes', async () => {
    const s = await standIn('version: 7217 (a1b2c3d4)');
    await llamaServerBuild(s.path, { env });
    await llamaServerBuild(s.path, { env });
    assert.equal(await s.runs(), 1);
    const later = new Date(Date.now() + 60_000);
    await utimes(s.path, later, later);
    await llamaServerBuild(s.path, { env });
    assert.equal(await s.runs(), 2);
  });

  it('a task naming an old build by a name on its PATH: the estimate sizes that build, and says so', async () => {
    const s = await standIn('version: 7217 (a1b2c3d4)');
    const model = await tinyLlamaModel('build-era-model');
    const args = ['-m', model, '-c', '4096', '-np', '1', '-ngl', '4'];
    const request = { server: 'llama-server' as const, args, env, cwd: dir, model: null, from: 'the test', totalVramBytes: null };
    const name = s.path.slice(dir.length + 1);
    const build = await taskLlamaBuild(name, { env: { PATH: dir }, cwd: dir });
    assert.ok(build?.ok, build && !build.ok ? build.reason : 'found');
    const old = await resolveModelNeed({ ...request, build });
    const current = await resolveModelNeed(request);
    assert.ok(old.ok && current.ok);
    assert.ok(
      old.need.notes.some((l) => l.startsWith('sized for llama.cpp build 7217 (a1b2c3d4), from llama-server --version')),
      old.need.notes.join('\n'),
    );
    assert.equal(current.need.notes.length, 0);
    assert.ok(old.need.estimate.kind === 'estimate' && current.need.estimate.kind === 'estimate');
    // -ngl 4 before December 2025: four repeating layers and no output layer; v0.5.0: the output layer and three.
    assert.equal(old.need.estimate.assumptions.gpuLayers, 4);
    assert.equal(current.need.estimate.assumptions.gpuLayers, 3);
  });
});
