/** The history folder's clean-up: each file judged by its own newest record, on the window's clock; stale import leftovers removed. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HistoryFiles } from '../../../src/core/history/files.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { MiB } from '../../../src/core/units.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-02T09:00:00Z');
const line = (t: number) => `{"t":${t},"g":[[0,${MiB},8589934592]]}\n`;

describe('history clean-up', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vram-guard-prune-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('deletes only what is past the retention by its own records, and import leftovers older than a day', async () => {
    const now = T0 + 48 * HOUR;
    await writeFile(join(dir, `history-${T0}.jsonl`), line(T0) + line(T0 + HOUR)); // all old: deleted
    await writeFile(join(dir, `history-${T0 + 1000}.jsonl`), line(T0 + 1000) + line(now - 1000)); // old name, live: kept
    await writeFile(join(dir, `history-${T0 + 2000}.jsonl`), ''); // old and empty: deleted
    await writeFile(join(dir, `history-${now - 5000}.jsonl`), ''); // just claimed: kept
    await writeFile(join(dir, `history-${T0 + 3000}.jsonl`), `${line(T0 + 3000)}{"t":${now - 1},"g":[[0,`); // torn last line, older record readable: deleted
    await writeFile(join(dir, `.import-123-${T0}.tmp`), line(T0)); // an import killed two days ago: deleted
    await writeFile(join(dir, `.import-124-${now - HOUR}.tmp`), line(now - HOUR)); // an import running now: kept
    const files = new HistoryFiles({ dir, maxFileBytes: 1 << 20, retentionMs: 24 * HOUR, clock: new FakeClock(now) });
    assert.equal(await files.prune(), 3);
    assert.deepEqual((await readdir(dir)).sort(), [`.import-124-${now - HOUR}.tmp`, `history-${T0 + 1000}.jsonl`, `history-${now - 5000}.jsonl`].sort());
  });
});
