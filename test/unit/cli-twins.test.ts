/**
 * The CLI twins of the editor's commands, through the built dist/cli.cjs: the fallback chain's dry
 * run and a step run by hand, the history export and import on the extension's history folder, the
 * ledger, and the help and typo messages. Needs `npm run build` first.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CSV_HEADER } from '../../src/core/watch/history-io.ts';
import { HistoryStore } from '../../src/core/watch/history-store.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB, repoRoot, type FakeState } from '../helpers/fake-nvml.ts';

const cli = join(repoRoot, 'dist', 'cli.cjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A 4 GiB laptop GPU at 93.5 %: CRITICAL at the default thresholds. */
const critical: FakeState = {
  driver: '550.54.14',
  devices: [
    {
      name: 'NVIDIA RTX A1000 Laptop GPU',
      uuid: 'GPU-a1000',
      total: 4 * GiB,
      used: 3830 * MiB,
      reserved: 94 * MiB,
      persistence: 1,
      processes: [{ pid: 2001, used: 3686 * MiB, name: '/opt/swictation/bin/python3' }],
    },
  ],
};

let lib: string;
before(async () => {
  assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
});

describe('vram-guard fallback', () => {
  it('--dry-run says what each step of the default chain would do, and does nothing', async () => {
    const fake = await FakeNvmlState.create(critical);
    const r = await runCli(['fallback', '--dry-run', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^# Fallback chain — dry run/m);
    assert.match(r.stdout, /nothing was done/);
    // The default chain: reduce context (any server), unload Ollama, Whisper to the CPU.
    assert.match(r.stdout, /\| 0 · CRITICAL · 3830 MiB of 4096 MiB \| 1\. reduceContext \| confirm \| would do nothing: no running server on GPU 0; trigger CRITICAL \(3686 MiB\) is met at 3830 MiB \|/);
    assert.match(r.stdout, /\| 2\. unloadModel ollama \| confirm \| would do nothing: no running "ollama" on GPU 0/);
    assert.doesNotMatch(r.stdout, /any server/);
  });

  it('--step runs a command step only with --yes', async () => {
    const fake = await FakeNvmlState.create(critical);
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-fallback-'));
    const marker = join(dir, 'ran');
    const chain = join(dir, 'chain.json');
    await writeFile(chain, JSON.stringify({ 'vramGuard.fallbackChain': [{ action: 'command', command: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`], trigger: 'critical', label: 'free memory' }] }));
    const env = { FAKE_NVML_STATE: fake.path, VRAM_GUARD_NVML_LIBRARY: lib };
    const asked = await runCli(['fallback', '--step', '1', '--chain', chain, '--settle-timeout', '0'], env);
    assert.equal(asked.code, 3, asked.stderr);
    assert.match(asked.stdout, /^Not run \(add --yes to run it\): step 1 \(free memory\) on GPU 0: would ask, then run .*node/);
    assert.equal(existsSync(marker), false, 'without --yes nothing runs');
    const ran = await runCli(['fallback', '--step', '1', '--chain', chain, '--settle-timeout', '0', '--yes', '--json'], env);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(await readFile(marker, 'utf8'), 'ran');
    const event = JSON.parse(ran.stdout).event;
    assert.deepEqual({ result: event.result, origin: event.origin, gpu: event.gpu, usedBefore: event.usedBefore }, { result: 'done', origin: 'manual', gpu: 0, usedBefore: 3830 * MiB });
  });

  it('wrong usage says what to do', async () => {
    const both = await runCli(['fallback', '--dry-run', '--yes']);
    assert.equal(both.code, 64);
    assert.match(both.stderr, /--yes goes with --step/);
    const neither = await runCli(['fallback']);
    assert.equal(neither.code, 64);
    assert.match(neither.stderr, /give either --dry-run or --step N/);
    const badChain = join(await mkdtemp(join(tmpdir(), 'vram-guard-fallback-')), 'chain.json');
    await writeFile(badChain, '[{"action":"explode"}]');
    const bad = await runCli(['fallback', '--dry-run', '--chain', badChain]);
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /"action" must be one of reduceContext, unloadModel, moveToCpu, stopServer, command/);
  });
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
    const stamp = (d: Date) => `${d.getFullYear()}/${String(d.getMonth() + 1).padStart(2, '0')}/${String(d.getDate()).padStart(2, '0')} ${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
    // The shape of `nvidia-smi --query-gpu=timestamp,index,memory.used,memory.total --format=csv -l 1`.
    const log = ['timestamp, index, memory.used [MiB], memory.total [MiB]', `${stamp(t0)}, 0, 3600 MiB, 4096 MiB`, `${stamp(new Date(t0.getTime() + 1000))}, 0, 3740 MiB, 4096 MiB`].join('\n');
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

describe('vram-guard ledger', () => {
  let child: ChildProcess;
  before(() => {
    child = spawn('sleep', ['60'], { stdio: 'ignore' });
  });
  after(() => child.kill());

  it('splits used memory into the named process tree, the others and the residual', async () => {
    const pid = child.pid!;
    const fake = await FakeNvmlState.create({
      devices: [{ ...critical.devices[0]!, processes: [{ pid, used: 2048 * MiB, name: 'llama-server' }, { pid: 2001, used: 1024 * MiB, name: '/usr/bin/python3' }] }],
    });
    const r = await runCli(['ledger', '--json', '--owner', `llm=${pid}`, '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
    assert.equal(r.code, 0, r.stderr);
    const gpu = JSON.parse(r.stdout).gpus[0];
    assert.deepEqual(gpu.owners.map((o: { name: string; pids: number[]; nvmlBytes: number }) => [o.name, o.pids, o.nvmlBytes]), [['llm', [pid], 2048 * MiB]]);
    assert.deepEqual(gpu.other, [{ pid: 2001, name: '/usr/bin/python3', usedBytes: 1024 * MiB }]);
    assert.equal(gpu.residualBytes, (3830 - 2048 - 1024) * MiB);
    const text = await runCli(['ledger', '--owner', `llm=${pid}`, '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
    assert.match(text.stdout, /2048 MiB {2}llm \[task\] PID/);
    assert.match(text.stdout, /758 MiB {2}residual \(no running process\)/);
  });

  it('a wrong --owner says what it should look like', async () => {
    const r = await runCli(['ledger', '--owner', 'llm']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /--owner "llm": start with NAME=PID/);
  });
});

describe('vram-guard help', () => {
  const commands = ['status', 'watch', 'preflight', 'spike', 'aec', 'fallback', 'history', 'ledger'];

  it('--help lists every command, one line each', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const c of commands) assert.match(r.stdout, new RegExp(`^  ${c} +\\S`, 'm'));
  });

  for (const c of commands) {
    it(`${c} --help lists its options, one line each`, async () => {
      const r = await runCli([c, '--help']);
      assert.equal(r.code, 0, r.stderr);
      const optionLines = r.stdout.split('\n').filter((l) => /^ {2}--/.test(l));
      assert.ok(optionLines.length >= 2, r.stdout);
      // No option's description runs on to a second line (the keys of spike's --server are listed under it).
      const continued = r.stdout.split('\n').filter((l) => /^ {30,}\S/.test(l) && !/^ {36}\S/.test(l));
      assert.deepEqual(continued, [], `${c} --help has continuation lines`);
    });
  }

  it('an unknown option names the nearest valid one', async () => {
    const r = await runCli(['preflight', '--nede', '6GiB']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /^vram-guard preflight: unknown option --nede \(did you mean --need\?\)/);
    const aec = await runCli(['aec', '--jsn']);
    assert.equal(aec.code, 64);
    assert.match(aec.stderr, /unknown option --jsn \(did you mean --json\?\)/);
    const command = await runCli(['stauts']);
    assert.equal(command.code, 64);
    assert.match(command.stderr, /unknown command "stauts" \(did you mean "status"\?\)/);
  });
});
