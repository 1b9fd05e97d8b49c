/**
 * One GPU lock across processes: an exclusive task in VS Code (GpuLock with its lock file) waits for
 * a real `vram-guard run --exclusive` holding the same GPU, is told who holds it, and gets it once
 * that run ends; a lock whose holder is gone is taken over.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { GpuLock } from '../../../src/core/servers/gpu-lock.ts';
import { type FileLockHolder, GpuFileLock, gpuLockPath } from '../../../src/core/servers/gpu-lock-file.ts';
import { reservationsPath } from '../../../src/core/servers/reservations.ts';
import { cliPath } from '../../helpers/cli-run.ts';
import { buildFakeNvml, desktopRtx3070, FakeNvmlState } from '../../helpers/fake-nvml.ts';

let lib: string;
before(async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
});

describe('the GPU lock across processes', () => {
  it('an exclusive task waits for vram-guard run --exclusive on the same GPU, and gets the lock when it ends', async () => {
    const runtime = await mkdtemp(join(tmpdir(), 'vram-guard-lock-'));
    const fake = await FakeNvmlState.create(desktopRtx3070());
    const script = join(runtime, 'hold.cjs');
    await writeFile(script, "console.log('holding'); setInterval(() => {}, 1000);");
    const run = spawn(process.execPath, [cliPath, 'run', '--need', '1GiB', '--exclusive', '--nvml-library', lib, '--', process.execPath, script], {
      env: { PATH: process.env.PATH, XDG_RUNTIME_DIR: runtime, FAKE_NVML_STATE: fake.path },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((r) => run.stdout!.once('data', r));
    const ended = new Promise((r) => run.once('close', r));
    const path = (gpu: number) => gpuLockPath(reservationsPath({ XDG_RUNTIME_DIR: runtime }), gpu);
    const lock = new GpuLock({ fileFor: (gpu) => new GpuFileLock(path(gpu), { pollMs: 50 }) });
    // Another GPU is free.
    (await lock.acquire('on GPU 1', undefined, { gpu: 1 }))();
    const told: FileLockHolder[] = [];
    let got = false;
    const acquired = lock.acquire('llama (task)', undefined, { gpu: 0, onWait: (h) => told.push(h) }).then((release) => {
      got = true;
      return release;
    });
    while (!told.length) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got, false);
    assert.equal(told[0]!.pid, run.pid);
    assert.match(told[0]!.name, /^node \(vram-guard run, PID \d+\)$/);
    run.kill('SIGTERM');
    await ended;
    const release = await acquired;
    assert.equal(JSON.parse(await readFile(path(0), 'utf8')).name, 'llama (task)');
    release();
  });

  it('a lock whose holder is gone is taken over', async () => {
    const runtime = await mkdtemp(join(tmpdir(), 'vram-guard-lock-'));
    const path = gpuLockPath(reservationsPath({ XDG_RUNTIME_DIR: runtime }), 0);
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => gone.once('exit', r));
    const lock = new GpuFileLock(path, { pollMs: 10 });
    await mkdir(join(runtime, 'vram-guard'), { recursive: true, mode: 0o700 });
    await writeFile(path, JSON.stringify({ name: 'crashed run', pid: gone.pid, since: 1 }));
    const told: FileLockHolder[] = [];
    const release = await lock.acquire('next', (h) => told.push(h));
    assert.deepEqual(told, []);
    assert.equal((await lock.holder())?.name, 'next');
    await release();
    assert.equal(await lock.holder(), null);
  });
});
