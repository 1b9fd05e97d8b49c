/**
 * The GPU lock of exclusive tasks across processes: another VS Code window's task (a child process
 * holding the same lock file) makes this one wait, named, until that window's lock is gone.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GpuLock } from '../../../src/core/servers/gpu-lock.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { advanceUntilSettled, runLockChild, spawnLockChild } from '../../helpers/lock-children.ts';

const lockPath = async () => join(await mkdtemp(join(tmpdir(), 'vram-guard-gpu-lock-')), 'gpu.lock');

describe('GPU lock across processes', () => {
  it('another process holds it: a task waits, knows who holds it, and gets it once that process dies', async () => {
    const path = await lockPath();
    const other = spawnLockChild(['lock', path]);
    await other.line('holding');
    const clock = new FakeClock();
    const gpu = new GpuLock({ path, clock });
    const holder = await gpu.elsewhere();
    assert.equal(holder?.pid, other.pid);
    assert.equal(holder?.name, 'child');
    const acquiring = gpu.acquire('mine');
    assert.deepEqual(await advanceUntilSettled(clock, acquiring, 1000, 600), { settled: false }, 'ten minutes later it still waits');
    assert.equal(gpu.current?.name, 'mine', 'first in line in this process');
    other.child.kill('SIGKILL');
    await other.exit;
    const got = await advanceUntilSettled(clock, acquiring, 1000, 3600);
    assert.ok(got.settled && 'value' in got, 'the lock is taken once its holder is gone');
    assert.match(await runLockChild(['try-lock', path]), new RegExp(`gpu\\.lock is held by PID ${process.pid} \\("mine"\\)`), 'and this process holds it now');
    got.value();
    assert.match(await runLockChild(['try-lock', path]), /^locked$/m, 'released: another process takes it');
  });

  it('a task cancelled while another process holds the lock stops waiting, and takes nothing', async () => {
    const path = await lockPath();
    const other = spawnLockChild(['lock', path]);
    await other.line('holding');
    const clock = new FakeClock();
    const gpu = new GpuLock({ path, clock });
    const cancel = new AbortController();
    const acquiring = gpu.acquire('cancelled', cancel.signal);
    assert.deepEqual(await advanceUntilSettled(clock, acquiring, 1000, 10), { settled: false });
    cancel.abort();
    await assert.rejects(acquiring, /"cancelled" stopped waiting for the GPU lock/);
    assert.equal(gpu.current, null);
    other.child.stdin?.end('go\n');
    assert.equal((await other.exit).code, 0);
    assert.match(await runLockChild(['try-lock', path]), /^locked$/m);
  });
});
