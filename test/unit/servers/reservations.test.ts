/**
 * Reservations shared by every VS Code window and the CLI: one file, changed under an OS lock,
 * entries dropped when the process that made them is gone or their time is up.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ReservationBook, reservationsPath, type Reservation } from '../../../src/core/servers/reservations.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';
import { advanceUntilSettled, runLockChild } from '../../helpers/lock-children.ts';

const entry = (book: ReservationBook, over: Partial<Reservation> = {}): Reservation => ({
  id: book.newId('t'),
  gpu: 0,
  bytes: 1024,
  owner: 't',
  holderPid: process.pid,
  serverPid: null,
  createdAt: Date.now(),
  expiresAt: Date.now() + 60_000,
  ...over,
});

describe('reservations', () => {
  it('live under $XDG_RUNTIME_DIR/vram-guard, else the temp folder with the uid in the name', () => {
    assert.equal(reservationsPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000, '/tmp'), '/run/user/1000/vram-guard/reservations.json');
    assert.equal(reservationsPath({}, 1000, '/tmp'), '/tmp/vram-guard-1000/reservations.json');
  });

  it('concurrent updates each see the others: none is lost', async () => {
    const book = new ReservationBook(join(await mkdtemp(join(tmpdir(), 'vram-guard-res-')), 'r.json'));
    await Promise.all(Array.from({ length: 12 }, (_, i) => book.update((live) => ({ result: null, next: [...live, entry(book, { owner: `task-${i}` })] }))));
    assert.equal((await book.list()).length, 12);
  });

  it('an entry made by a process that has exited is dropped; an expired one too', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'vram-guard-res-')), 'r.json');
    // Another process (as a second VS Code window or the CLI would) reserves and exits.
    const script = `import { ReservationBook } from ${JSON.stringify(join(repoRoot, 'src/core/servers/reservations.ts'))};
      const b = new ReservationBook(${JSON.stringify(path)});
      await b.update((live) => ({ result: null, next: [...live, { id: 'other', gpu: 0, bytes: 4096, owner: 'other window', holderPid: process.pid, serverPid: null, createdAt: Date.now(), expiresAt: Date.now() + 60000 }] }));`;
    execFileSync(process.execPath, ['--input-type=module', '-e', script]);
    assert.match(await readFile(path, 'utf8'), /other window/, 'the entry was written');
    const book = new ReservationBook(path);
    assert.deepEqual(await book.list(), [], 'its holder is gone');
    await book.update((live) => ({
      result: null,
      next: [...live, entry(book, { owner: 'expired', expiresAt: Date.now() - 1 }), entry(book, { owner: 'kept' })],
    }));
    assert.deepEqual(
      (await book.list()).map((r) => r.owner),
      ['kept'],
    );
  });

  it('eight processes making 50 updates each, three times over: none is lost', async () => {
    for (let run = 1; run <= 3; run++) {
      const path = join(await mkdtemp(join(tmpdir(), 'vram-guard-res-')), 'reservations.json');
      const ids = Array.from({ length: 8 }, (_, i) => `writer-${i}`);
      await Promise.all(ids.map((id) => runLockChild(['reserve', path, String(process.pid), '50', id])));
      const entries = await new ReservationBook(path).list();
      assert.deepEqual(
        entries.map((r) => [r.id, r.bytes]).sort(),
        ids.map((id) => [id, 50]),
        `run ${run}: each writer's 50 updates are all in the file`,
      );
    }
  });

  it('a lock another holder keeps is never broken: the waiter gives up after its bound, saying who holds it', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'vram-guard-res-')), 'r.json');
    const holder = new ReservationBook(path);
    let release!: () => void;
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const stuck = holder.update(async (live) => {
      holding();
      await new Promise<void>((r) => (release = r));
      return { result: null, next: [...live, entry(holder, { owner: 'holder' })] };
    });
    await held;
    const clock = new FakeClock();
    const waiting = new ReservationBook(path, { clock, lockWaitMs: 30_000 }).update((live) => ({
      result: null,
      next: [...live, entry(holder, { owner: 'waiter' })],
    }));
    // An hour passes on the waiter's clock, a second at a time, far past its 30 s bound.
    const outcome = await advanceUntilSettled(clock, waiting, 1000, 3600);
    assert.ok(outcome.settled && 'error' in outcome, 'the waiter gave up');
    assert.match(
      String((outcome.error as Error).message),
      new RegExp(
        `r\\.json\\.lock is held by PID ${process.pid} \\("reservations"\\) since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z; gave up after waiting 3\\d s \\(the lock was left alone\\)`,
      ),
    );
    release();
    await stuck;
    assert.deepEqual(
      (await holder.list()).map((r) => r.owner),
      ['holder'],
      "the holder's update landed; the waiter's was refused with its error, not half-made",
    );
  });

  it('refuses a folder others can write to (a shared temp folder someone made first)', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'vram-guard-res-')), 'vram-guard-1000');
    await mkdir(dir);
    await chmod(dir, 0o777);
    const book = new ReservationBook(join(dir, 'reservations.json'));
    await assert.rejects(
      book.update(() => ({ result: null })),
      /is not a private folder of this user .*mode 777.*reservations are not shared/,
    );
  });
});
