/**
 * Reservations shared by every VS Code window and the CLI: one file, changed under an O_EXCL lock,
 * entries dropped when the process that made them is gone or their time is up.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ReservationBook, reservationsPath, type Reservation } from '../../../src/core/servers/reservations.ts';
import { repoRoot } from '../../helpers/fake-nvml.ts';

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

  it('a lock held by a live process that never lets go is broken once it is older than the staleness time, so no one waits forever', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'vram-guard-res-')), 'r.json');
    const holder = new ReservationBook(path, { lockStaleMs: 200 });
    let release!: () => void;
    const stuck = holder.update(() => new Promise<{ result: null }>((r) => (release = () => r({ result: null }))));
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    await new ReservationBook(path, { lockStaleMs: 200 }).update((live) => ({ result: null, next: [...live, entry(holder)] }));
    const waited = Date.now() - t0;
    assert.ok(waited >= 150 && waited < 2000, `waited ${waited} ms`);
    release();
    await stuck;
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
