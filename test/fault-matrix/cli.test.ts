/**
 * Fault matrix: what the command line is given — files, options, the Node that runs it — through
 * the built dist/cli.cjs. Each test checks what the user sees (message, exit code) and that the
 * history folder is left as it was. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { HistoryStore } from '../../src/core/history/store.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB, repoRoot } from '../helpers/fake-nvml.ts';
import { cliPath as cli, runCli } from '../helpers/cli-run.ts';

/** A state folder whose history the extension's own store wrote: one sample a second for 3 s. */
async function stateWithHistory(): Promise<{ state: string; history: string; files: () => Promise<Record<string, string>> }> {
  const state = await mkdtemp(join(tmpdir(), 'vram-guard-fault-cli-'));
  const history = join(state, 'history');
  const store = new HistoryStore({ dir: history, flushMs: 10 });
  const now = Date.now();
  for (let i = 0; i < 3; i++) store.record({ t: now - 3000 + i * 1000, gpus: [{ gpu: 0, used: (1000 + i) * MiB, total: 4096 * MiB }], system: null });
  await store.close();
  const files = async () =>
    Object.fromEntries(await Promise.all((await readdir(history)).map(async (f) => [f, await readFile(join(history, f), 'utf8')] as const)));
  return { state, history, files };
}

let lib: string;
before(async () => {
  assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
});

test('a fallback chain file that is not JSON → exit 64 naming the file and the parse error; nothing runs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-cli-'));
  const chain = join(dir, 'chain.json');
  await writeFile(chain, '[{"action": "command", "command": ["touch", "x"]');
  const r = await runCli(['fallback', '--step', '1', '--yes', '--chain', chain]);
  assert.equal(r.code, 64);
  assert.match(r.stderr, new RegExp(`^vram-guard fallback: --chain: ${chain.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not JSON: `));
  assert.equal(existsSync(join(dir, 'x')), false);
});

test('a fallback chain file over 1 MiB → exit 64 asking for a list of steps; not parsed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-cli-'));
  const chain = join(dir, 'chain.json');
  await writeFile(chain, `[${' '.repeat(MiB)}]`);
  const r = await runCli(['fallback', '--dry-run', '--chain', chain]);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /is over 1024 KiB: give a list of steps/);
});

test('a fallback chain with one bad step among good ones → the bad one named and left out, the rest planned', async () => {
  const fake = await FakeNvmlState.create({ devices: [{ name: 'RTX A1000', total: 4 * GiB, used: 3830 * MiB, persistence: 1, processes: [] }] });
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-fault-cli-'));
  const chain = join(dir, 'chain.json');
  await writeFile(chain, JSON.stringify([{ action: 'explode' }, { action: 'stopServer', target: 'ollama', trigger: '95%' }]));
  const r = await runCli(['fallback', '--dry-run', '--chain', chain, '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /chain\.json\[0\]: "action" must be one of .*This step is left out\./);
  assert.match(r.stdout, /\| 1\. stopServer ollama \| confirm \| would do nothing: no running "ollama" on GPU 0/);
});

test('history import of a file that is no VRAM log → exit 1 quoting its first line; the history folder unchanged', async () => {
  const { state, files } = await stateWithHistory();
  const before = await files();
  const junk = join(state, 'notes.txt');
  await writeFile(junk, 'shopping list\nmilk\n');
  const r = await runCli(['history', 'import', junk], { VRAM_GUARD_STATE_DIR: state });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /could not import .*notes\.txt: .*it reads "shopping list"/);
  assert.deepEqual(await files(), before);
});

test('history import of a file over 512 MB → exit 1 with its size, not read; the history folder unchanged', async () => {
  const { state, files } = await stateWithHistory();
  const before = await files();
  const big = join(state, 'huge.csv');
  const handle = await open(big, 'w');
  await handle.truncate(513 * MiB); // sparse: no disk used
  await handle.close();
  const r = await runCli(['history', 'import', big], { VRAM_GUARD_STATE_DIR: state });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /huge\.csv is 513 MB, more than the 512 MB an import may be\. Cut it to the incident first\./);
  assert.deepEqual(await files(), before);
});

test('history import of a log wholly older than the retention → exit 1 saying so; nothing added', async () => {
  const { state, files } = await stateWithHistory();
  const before = await files();
  const r = await runCli(['history', 'import', join(repoRoot, 'test', 'fixtures', 'nvidia-smi', 'query-gpu-log.csv')], { VRAM_GUARD_STATE_DIR: state });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /all \d+ records in .*query-gpu-log\.csv are older than the 7-day retention/);
  assert.deepEqual(await files(), before);
});

test('a history file whose last line a crash cut short → export skips that line, says so, and keeps every other record', async () => {
  const { state, history, files } = await stateWithHistory();
  const [name] = Object.keys(await files());
  await appendFile(join(history, name!), '{"t":17649');
  const before = await files();
  const r = await runCli(['history', 'export', '--format', 'jsonl'], { VRAM_GUARD_STATE_DIR: state });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1 + 3, 'the header and the three samples');
  assert.match(r.stderr, /exported 3 records from 1 file\(s\) .*\(skipped 1 unreadable line\(s\)\)/);
  assert.deepEqual(await files(), before, 'export never rewrites the history');
});

test('history export to a folder that does not exist → exit 1 naming the path; the history folder unchanged', async () => {
  const { state, files } = await stateWithHistory();
  const before = await files();
  const out = join(state, 'no-such-folder', 'export.csv');
  const r = await runCli(['history', 'export', '--out', out], { VRAM_GUARD_STATE_DIR: state });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`could not write ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ENOENT`));
  assert.deepEqual(await files(), before);
});

test('an --owner that is not NAME=PID → exit 64 with the shape it wants', async () => {
  const r = await runCli(['ledger', '--owner', 'llm=twelve']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /--owner "llm=twelve": start with NAME=PID, e\.g\. llm=12345/);
});

test('a misspelt option → exit 64 naming the nearest valid one', async () => {
  const r = await runCli(['watch', '--intervall', '500']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /^vram-guard watch: unknown option --intervall \(did you mean --interval\?\)/);
});
