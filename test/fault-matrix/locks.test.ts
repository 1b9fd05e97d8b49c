/**
 * Fault matrix: the files more than one process writes (the reservations every VS Code window and
 * the CLI share) and the OS lock that guards them (src/core/file-lock.ts). Other writers are real
 * processes (test/fixtures/locks/lock-child.ts) killed or frozen with real signals; waits are timed
 * on a fake clock. The pre-flight case runs the built dist/cli.cjs: needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MAX_RESERVATIONS, type Reservation, ReservationBook } from '../../src/core/servers/reservations.ts';
import { cliPath, runCli } from '../helpers/cli-run.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB } from '../helpers/fake-nvml.ts';
import { advanceUntilSettled, type LockChild, runLockChild, spawnLockChild } from '../helpers/lock-children.ts';

const folder = () => mkdtemp(join(tmpdir(), 'vram-guard-fault-locks-'));
const entry = (id: string, over: Partial<Reservation> = {}): Reservation => ({
  id,
  gpu: 0,
  bytes: GiB,
  owner: id,
  holderPid: process.pid,
  serverPid: null,
  createdAt: Date.now(),
  expiresAt: Date.now() + 3_600_000,
  ...over,
});
const add = (book: ReservationBook, id: string) => book.update((live) => ({ result: null, next: [...live, entry(id)] }));
const ids = async (path: string) => (await new ReservationBook(path).list()).map((r) => r.id);
/** The file as a reader finds it: whole JSON, version 1. */
const whole = async (path: string) => assert.equal(JSON.parse(await readFile(path, 'utf8')).version, 1);

const children: LockChild[] = [];
after(() => {
  for (const c of children) {
    c.child.kill('SIGCONT');
    c.child.kill('SIGKILL');
  }
});
const spawnChild = (args: string[]) => {
  const c = spawnLockChild(args);
  children.push(c);
  return c;
};

test('a reservation holder killed (SIGKILL) in the middle of an update → the next update takes the lock at once, the file whole with every earlier entry', async () => {
  const path = join(await folder(), 'reservations.json');
  await add(new ReservationBook(path), 'earlier');
  const holder = spawnChild(['hold', path, String(process.pid), 'killed']);
  await holder.line('holding');
  holder.child.kill('SIGKILL');
  assert.equal((await holder.exit).signal, 'SIGKILL');
  // No wait at all: the kernel dropped the dead holder's lock, nothing has to judge it stale.
  await add(new ReservationBook(path, { lockWaitMs: 0, clock: new FakeClock() }), 'next');
  await whole(path);
  assert.deepEqual(await ids(path), ['earlier', 'next']);
});

test('a reservation holder frozen (SIGSTOP) past every timeout → its lock is kept; a waiter fails after its bound with "held by PID N since …", and the frozen update lands whole once it resumes', async () => {
  const path = join(await folder(), 'reservations.json');
  await add(new ReservationBook(path), 'earlier');
  const holder = spawnChild(['hold', path, String(process.pid), 'frozen']);
  await holder.line('holding');
  holder.child.kill('SIGSTOP');
  const clock = new FakeClock();
  const waiter = add(new ReservationBook(path, { lockWaitMs: 10_000, clock }), 'waiter');
  // Two hours on the waiter's clock, a second at a time.
  const outcome = await advanceUntilSettled(clock, waiter, 1000, 7200);
  assert.ok(outcome.settled && 'error' in outcome, 'the waiter gave up');
  assert.match(
    (outcome.error as Error).message,
    new RegExp(
      `reservations\\.json\\.lock is held by PID ${holder.pid} \\("reservations"\\) since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z; gave up after waiting 1\\d s \\(the lock was left alone\\)`,
    ),
  );
  assert.deepEqual(await ids(path), ['earlier'], 'nothing written while the holder is frozen');
  holder.child.kill('SIGCONT');
  holder.child.stdin?.end('go\n');
  assert.equal((await holder.exit).code, 0);
  await whole(path);
  assert.deepEqual(await ids(path), ['earlier', 'frozen'], "the holder's update is whole, on top of what it read");
});

test('the lock file deleted between updates → made again, the update proceeds and nothing is lost', async () => {
  const path = join(await folder(), 'reservations.json');
  const book = new ReservationBook(path);
  await add(book, 'first');
  await unlink(`${path}.lock`);
  await add(book, 'second');
  assert.ok(existsSync(`${path}.lock`));
  assert.deepEqual(await ids(path), ['first', 'second']);
});

test("the lock file deleted while an update holds it → that update is refused before it writes, naming why; the next holder's update lands", async () => {
  const path = join(await folder(), 'reservations.json');
  await add(new ReservationBook(path), 'earlier');
  const first = new ReservationBook(path).update(async (live) => {
    await unlink(`${path}.lock`);
    // Another window now locks the new lock file and writes.
    await add(new ReservationBook(path, { lockWaitMs: 0, clock: new FakeClock() }), 'other');
    return { result: null, next: [...live, entry('lost-lock')] };
  });
  await assert.rejects(first, /reservations\.json\.lock was deleted or replaced while held, so another process may hold it now; nothing was written/);
  await whole(path);
  assert.deepEqual(await ids(path), ['earlier', 'other']);
});

test('the lock file replaced by a directory → a clear error naming it; the directory and the reservations are left as they were', async () => {
  const path = join(await folder(), 'reservations.json');
  await add(new ReservationBook(path), 'earlier');
  await unlink(`${path}.lock`);
  await mkdir(`${path}.lock`);
  await assert.rejects(add(new ReservationBook(path), 'refused'), /the lock file \S+reservations\.json\.lock is a directory, not a file: remove it/);
  assert.deepEqual(await readdir(`${path}.lock`), []);
  assert.deepEqual(await ids(path), ['earlier']);
});

test("the lock file replaced by a symbolic link → refused without following it; the link's target untouched", async () => {
  const dir = await folder();
  const path = join(dir, 'reservations.json');
  await add(new ReservationBook(path), 'earlier');
  const target = join(dir, 'someone-elses-file');
  await writeFile(target, 'keep me');
  await unlink(`${path}.lock`);
  await symlink(target, `${path}.lock`);
  await assert.rejects(
    add(new ReservationBook(path), 'refused'),
    /the lock file \S+reservations\.json\.lock is a symbolic link, which a lock never follows: remove it/,
  );
  assert.equal(await readFile(target, 'utf8'), 'keep me');
  assert.deepEqual(await ids(path), ['earlier']);
});

test('the lock file unreadable (no permission) → a clear permission error naming it; nothing taken', async () => {
  const dir = await folder();
  await chmod(dir, 0o755);
  const lock = join(dir, 'reservations.json.lock');
  await writeFile(lock, '');
  await chmod(lock, 0o000);
  // Root reads any file: then another user (nobody) meets the file, as it would in a shared folder.
  const asRoot = process.getuid?.() === 0;
  const c = spawnLockChild(['try-lock', lock], asRoot ? { uid: 65534, gid: 65534 } : {});
  c.child.stdin?.end();
  const r = await c.exit;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /the lock file \S+reservations\.json\.lock cannot be opened \(permission denied\): give it back to this user or remove it/);
});

test('a window holding the GPU lock dies while the server it started runs on → the lock is free at once; the server does not keep it', async () => {
  const lock = join(await folder(), 'gpu.lock');
  const window = spawnChild(['lock-and-spawn', lock]);
  await window.line('holding');
  const serverPid = Number(/^server (\d+)$/m.exec(window.stdout())?.[1]);
  try {
    window.child.kill('SIGKILL');
    await window.exit;
    assert.doesNotThrow(() => process.kill(serverPid, 0), 'the server still runs');
    const other = await runLockChild(['try-lock', lock]);
    assert.match(other, /^locked$/m);
  } finally {
    process.kill(serverPid, 'SIGKILL');
  }
});

test('a folder where reservations.json should be → a clear error naming it, no temporary file left behind, however often it is tried', async () => {
  const dir = await folder();
  const path = join(dir, 'reservations.json');
  await mkdir(path);
  for (let i = 0; i < 3; i++)
    await assert.rejects(add(new ReservationBook(path), `try-${i}`), /reservations\.json is a directory, not the reservations file: remove it/);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
    [],
  );
  assert.deepEqual(await readdir(path), [], 'the folder is left alone');
});

test('more live reservations than the file holds → the one past the cap is refused with a clear error; none is dropped', async () => {
  const path = join(await folder(), 'reservations.json');
  const book = new ReservationBook(path);
  const full = Array.from({ length: MAX_RESERVATIONS }, (_, i) => entry(`r${i}`));
  await book.update(() => ({ result: null, next: full }));
  await assert.rejects(add(book, 'one-more'), /257 reservations would be in force, more than the 256 this file holds; nothing was changed/);
  const kept = await ids(path);
  assert.equal(kept.length, MAX_RESERVATIONS);
  assert.equal(kept[0], 'r0', 'the oldest is still there');
});

test('a vram-guard-$UID folder another user made in the shared temp folder → not read: the pre-flight says so on stderr and counts nothing planted there', async () => {
  assert.ok(existsSync(cliPath), `${cliPath} is missing: run "npm run build" first`);
  const lib = await buildFakeNvml();
  const fake = await FakeNvmlState.create({ devices: [{ name: 'RTX A1000', total: 4 * GiB, used: 1024 * MiB, persistence: 1, processes: [] }] });
  const sharedTmp = await folder();
  await chmod(sharedTmp, 0o1777);
  const planted = join(sharedTmp, `vram-guard-${process.getuid?.() ?? 0}`);
  await mkdir(planted);
  // 100 GiB "reserved" by a live process (this one): counted, it would fail every pre-flight.
  await writeFile(join(planted, 'reservations.json'), JSON.stringify({ version: 1, reservations: [entry('planted', { bytes: 100 * GiB })] }));
  // Another user's folder: root can hand it to nobody; anyone else makes it writable by all, as an intruder would.
  if (process.getuid?.() === 0) await chown(planted, 65534, 65534);
  else await chmod(planted, 0o777);
  const r = await runCli(['preflight', '--need', '1GiB', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path, TMPDIR: sharedTmp, XDG_RUNTIME_DIR: '' });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /vram-guard preflight: reservations not counted: \S+vram-guard-\d+ is not a private folder of this user \(a folder, owner \d+, mode \d+\); reservations are not shared through it/,
  );
  assert.doesNotMatch(r.stdout, /reserved/);
});
