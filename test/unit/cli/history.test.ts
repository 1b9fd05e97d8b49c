/** The CLI's history export and import on the extension's history folder, through the built dist/cli.cjs. Needs `npm run build` first. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CSV_HEADER } from '../../../src/core/history/io.ts';
import { HistoryStore } from '../../../src/core/history/store.ts';
import { MiB, repoRoot } from '../../helpers/fake-nvml.ts';
import { cliPath as cli, runCli } from '../../helpers/cli-run.ts';

before(() => {
  assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
});

describe('vram-guard history', () => {
  /** A state folder with a history written the way the extension writes it. */
  async function stateWithHistory(times: number[]): Promise<string> {
    const state = await mkdtemp(join(tmpdir(), 'vram-guard-state-'));
    const store = new HistoryStore({ dir: join(state, 'history'), flushMs: 10 });
    for (const [i, t] of times.entries()) {
      store.record({ t, gpus: [{ gpu: 0, used: (1000 + i) * MiB, total: 4096 * MiB }], ram: null, swap: null } as never);
    }
    store.recordEvent({ t: times.at(-1)! + 1, kind: 'note', gpu: 0, text: 'a note', level: null, usedBefore: null, usedAfter: null });
    await store.close();
    return state;
  }

  it('export writes the extension history folder (found through VRAM_GUARD_STATE_DIR) as CSV', async () => {
    const now = Date.now();
    const state = await stateWithHistory([now - 2000, now - 1000]);
    const r = await runCli(['history', 'export'], { VRAM_GUARD_STATE_DIR: state });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], CSV_HEADER);
    assert.equal(lines[1], `${new Date(now - 2000).toISOString()},0,1000,4096,,,,,,`);
    assert.equal(lines[2], `${new Date(now - 1000).toISOString()},0,1001,4096,,,,,,`);
    assert.match(lines[3]!, /,note,a note$/);
    assert.match(r.stderr, /exported 3 records from 1 file\(s\)/);
  });

  it('export --out FILE.jsonl writes JSON Lines that import reads back as the same records', async () => {
    const now = Date.now();
    const state = await stateWithHistory([now - 2000, now - 1000]);
    const out = join(state, 'backup.jsonl');
    const r = await runCli(['history', 'export', '--out', out], { VRAM_GUARD_STATE_DIR: state });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    assert.match(lines[0]!, /"vramGuardHistory":1/);
    const other = await mkdtemp(join(tmpdir(), 'vram-guard-state-'));
    const back = await runCli(['history', 'import', out, '--dir', join(other, 'history')]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /imported 3 of 3 records \(jsonl\)/);
    const a = (await runCli(['history', 'export', '--format', 'jsonl', '--dir', join(other, 'history')])).stdout.split('\n').slice(1);
    assert.deepEqual(a, lines.slice(1).concat(''));
  });

  it('import adds an nvidia-smi log to the history folder, which the dashboard then reads', async () => {
    const state = await stateWithHistory([Date.now() - 5000]);
    const t0 = new Date(Date.now() - 60_000);
    const stamp = (d: Date) =>
      `${d.getFullYear()}/${String(d.getMonth() + 1).padStart(2, '0')}/${String(d.getDate()).padStart(2, '0')} ${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
    // The shape of `nvidia-smi --query-gpu=timestamp,index,memory.used,memory.total --format=csv -l 1`.
    const log = [
      'timestamp, index, memory.used [MiB], memory.total [MiB]',
      `${stamp(t0)}, 0, 3600 MiB, 4096 MiB`,
      `${stamp(new Date(t0.getTime() + 1000))}, 0, 3740 MiB, 4096 MiB`,
    ].join('\n');
    const file = join(state, 'gpu.csv');
    await writeFile(file, log);
    const r = await runCli(['history', 'import', file], { VRAM_GUARD_STATE_DIR: state });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported 2 of 2 records \(nvidia-smi\)/);
    assert.equal((await readdir(join(state, 'history'))).length, 2, 'a file of its own beside the existing one');
    const store = new HistoryStore({ dir: join(state, 'history') });
    const stats = await store.load();
    assert.equal(stats.records, 4, 'the one sample and note before, and the two imported');
    const exported = await runCli(['history', 'export', '--format', 'csv'], { VRAM_GUARD_STATE_DIR: state });
    assert.match(exported.stdout, /,0,3600,4096,/);
    assert.match(exported.stdout, /,0,3740,4096,/);
  });

  it('import refuses what it cannot read and a log wholly older than the retention, adding nothing', async () => {
    const state = await stateWithHistory([Date.now() - 5000]);
    const before = await readdir(join(state, 'history'));
    const junk = join(state, 'junk.csv');
    await writeFile(junk, 'hello,world\n1,2\n');
    const bad = await runCli(['history', 'import', junk], { VRAM_GUARD_STATE_DIR: state });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /could not import .*junk\.csv: .*nvidia-smi --query-gpu CSV log/);
    const old = await runCli(['history', 'import', join(repoRoot, 'test', 'fixtures', 'nvidia-smi', 'query-gpu-log.csv')], { VRAM_GUARD_STATE_DIR: state });
    assert.equal(old.code, 1);
    assert.match(old.stderr, /older than the 7-day retention/);
    assert.deepEqual(await readdir(join(state, 'history')), before);
  });

  it('names the nearest subcommand', async () => {
    const r = await runCli(['history', 'exprot']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /unknown history command "exprot" \(did you mean "export"\?\)/);
  });
});
