/**
 * The budget spike end to end: `vram-guard spike` through `runSpikeCommand`, the fake NVML library
 * through the real koffi path, and the emulated Whisper and Ollama servers as real child processes
 * on 127.0.0.1 that add their VRAM to the fake state. Every emulator still running is killed by PID
 * in `after`, also when a test fails.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { CliIo } from '../../../src/cli/io.ts';
import { runSpikeCommand } from '../../../src/cli/spike.ts';
import type { spikeJson } from '../../../src/core/checks/spike-report.ts';
import { processTree } from '../../../src/core/servers/process-tree.ts';
import { buildFakeNvml, desktopRtx3070, FakeNvmlState, MiB, parseFakeState, updateFakeState, type FakeState } from '../../helpers/fake-nvml.ts';
import { alive, emulatorCommand, freePort, PidRegister } from '../../helpers/servers.ts';

const card = (): FakeState => desktopRtx3070();
const DESKTOP_PIDS = new Set([1187, 2290]);

const pids = new PidRegister();
let statePath = '';

/** Kills every emulator the fake state still lists, and every registered PID. */
async function killLeftovers(): Promise<void> {
  if (statePath) {
    const state = parseFakeState(await readFile(statePath, 'utf8').catch(() => ''));
    for (const p of state.devices[0]?.processes ?? []) if (!DESKTOP_PIDS.has(p.pid)) pids.add(p.pid);
  }
  for (const pid of await emulatorDescendants()) pids.add(pid);
  pids.killAll();
}
afterEach(killLeftovers);
after(killLeftovers);

/** This test process's descendants that run an emulated server. */
async function emulatorDescendants(): Promise<number[]> {
  const out: number[] = [];
  for (const pid of (await processTree(process.pid)).slice(1)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(join('test', 'fixtures', 'servers'))) out.push(pid);
  }
  return out;
}

const esc = (s: string) => s.replace(/[\\,;]/g, (c) => `\\${c}`);

/** Whisper, then Ollama, as spec-file servers: the command an argument array. */
async function servers(ollamaWeightsMiB: number, ollamaExtra: string[] = []): Promise<Array<Record<string, unknown>>> {
  const [node, whisper] = emulatorCommand('whisper-cpp');
  const [, ollama] = emulatorCommand('ollama');
  const pw = await freePort();
  const po = await freePort();
  return [
    // Whisper: 1016 MiB of model + 100 MiB of CUDA context = 1116 MiB in NVML.
    {
      name: 'whisper',
      server: 'whisper-cpp',
      command: [node, whisper],
      args: ['-m', 'ggml-distil-large-v3.bin', '--port', String(pw), '--vram-mib', '1016', '--nvml-extra-mib', '100'],
      port: pw,
    },
    // Ollama: weights + 448 MiB of KV cache at 4096 tokens (its size_vram) + 200 MiB NVML sees beyond it.
    {
      name: 'ollama',
      server: 'ollama',
      command: [node, ollama],
      args: ['--model', `llama3.2:3b=${ollamaWeightsMiB}:112`, '--nvml-extra-mib', '200', ...ollamaExtra],
      port: po,
      load: { model: 'llama3.2:3b' },
    },
  ];
}

/** The same servers as `--server` flags: cmd= the program, args= its arguments separated by ;. */
function serverFlags(list: Array<Record<string, unknown>>): string[] {
  return list.flatMap((s) => {
    const [cmd, ...fixed] = s.command as string[];
    const args = [...fixed, ...(s.args as string[])].map(esc).join(';');
    const model = (s.load as { model?: string } | undefined)?.model;
    return ['--server', `name=${s.name},kind=${s.server},cmd=${esc(cmd!)},args=${args},port=${s.port}${model ? `,model=${model}` : ''}`];
  });
}

const FAST = [
  '--settle',
  '0.05',
  '--samples',
  '3',
  '--measure-interval',
  '20',
  '--rounds',
  '2',
  '--sample-interval',
  '50',
  '--peak-window',
  '0.5',
  '--stop-timeout',
  '3',
];
const THRESHOLDS = ['--thresholds', 'warning=6144MiB,critical=7168MiB,emergency=7782MiB'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  out: string;
}

/**
 * Runs the spike. During the concurrent load the fake GPU gains 3 MiB (what inference allocated
 * on top of the loaded models when the user measured), released when the servers stop;
 * `cancelWhen` interrupts (as Ctrl-C does) when a progress line matches.
 */
async function spike(extra: string[], options: { ollamaWeightsMiB: number; ollamaExtra?: string[]; specFile?: boolean; cancelWhen?: RegExp }): Promise<Run> {
  const lib = await buildFakeNvml();
  const fake = await FakeNvmlState.create(card());
  statePath = fake.path;
  process.env.FAKE_NVML_STATE = fake.path;
  const out = await mkdtemp(join(tmpdir(), 'vram-guard-spikes-'));
  let stdout = '';
  let stderr = '';
  let interrupt = () => {};
  const bump = (mib: number) =>
    void updateFakeState(fake.path, (s) => {
      s.devices[0]!.used! += mib * MiB;
    });
  const io: CliIo = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
      if (/^spike: concurrent load/m.test(t)) bump(3);
      if (/^spike: stopping ollama/m.test(t) && /concurrent load/.test(stderr)) bump(-3);
      if (options.cancelWhen?.test(t)) interrupt();
    },
    env: { FAKE_NVML_STATE: fake.path, VRAM_GUARD_NVML_LIBRARY: lib },
    interrupted: new Promise((resolve) => (interrupt = resolve)),
  };
  const list = await servers(options.ollamaWeightsMiB, options.ollamaExtra);
  let how = serverFlags(list);
  if (options.specFile) {
    const file = join(out, '..', `${basename(out)}.spike.json`);
    await writeFile(file, JSON.stringify({ servers: list }, null, 2));
    how = ['--spec', file];
  }
  const code = await runSpikeCommand([...how, ...FAST, ...THRESHOLDS, '--out', out, ...extra], io);
  return { code, stdout, stderr, out };
}

async function saved(dir: string): Promise<{ md: string; json: ReturnType<typeof spikeJson> }> {
  const files = (await readdir(dir)).sort();
  assert.equal(files.length, 2, files.join(', '));
  assert.match(files[0]!, /^spike-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.json$/);
  assert.equal(files[1], files[0]!.replace(/\.json$/, '.md'));
  return { md: await readFile(join(dir, files[1]!), 'utf8'), json: JSON.parse(await readFile(join(dir, files[0]!), 'utf8')) };
}

describe('vram-guard spike with emulated servers and the fake NVML library', () => {
  before(async () => {
    await buildFakeNvml();
  });

  it('reports GO with 2771 MiB headroom, as the user measured (Whisper 1116 MiB, then Ollama 2838 MiB, peak 5421 MiB)', async () => {
    const r = await spike([], { ollamaWeightsMiB: 2190 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const { md, json } = await saved(r.out);
    assert.equal(md, r.stdout);
    for (const line of [
      '| Baseline | 1464 | 17.9% | — |',
      '| + whisper | 2580 | 31.5% | +1116 MiB |',
      '| + ollama | 5418 | 66.1% | +2838 MiB |',
      '| Concurrent inference peak | 5421 | 66.2% | +3 MiB |',
      '| **Headroom at peak** | **2771** | **33.8% free** | — |',
    ]) {
      assert.ok(md.includes(line), `missing ${line}\n${md}`);
    }
    assert.match(md, /\*\*GO\*\* — the concurrent peak of 5421 MiB stays 723 MiB below the WARNING threshold of 6144 MiB\./);
    assert.equal(json.verdict, 'GO');
    assert.equal(json.complete, true);
    assert.equal(json.headroomBytes, 2771 * MiB);
    assert.equal(json.decision?.marginBytes, 723 * MiB);
    assert.ok(json.peak !== null && json.peak.rateHz >= 10, `sampled at ${json.peak?.rateHz} Hz`);
    // Per server: NVML (its process) beside what the server says (Ollama's size_vram is an estimate).
    const [whisper, ollama] = json.servers;
    assert.ok(whisper && ollama, `two servers in the report, got ${json.servers.length}`);
    assert.equal(whisper.nvmlBytes, 1116 * MiB);
    assert.equal(whisper.reportedBytes, null);
    assert.equal(ollama.nvmlBytes, 2838 * MiB);
    assert.equal(ollama.reportedBytes, 2638 * MiB);
    assert.deepEqual(ollama.models, ['llama3.2:3b']);
    assert.equal(ollama.load.failed, 0);
    assert.equal(ollama.load.ok, 2);
    assert.equal(whisper.load.ok, 2);
    assert.match(md, /\| ollama \| ollama \| \d+ \| \+2838 MiB \| 2838 MiB \| 2638 MiB \| 2\/2 ok/);
    // Stopped: no process left, the memory back to the baseline.
    for (const s of json.servers) {
      assert.equal(s.stop?.how, 'SIGTERM');
      assert.ok(s.pid !== null, `${s.name} has no PID`);
      assert.equal(alive(s.pid), false, `${s.name} (PID ${s.pid}) is still running`);
    }
    assert.equal(json.afterStop?.usedBytes, 1464 * MiB);
    assert.deepEqual(await emulatorDescendants(), []);
  });

  it('reports NO-GO when Ollama adds 4500 MiB (servers from a JSON spec file)', async () => {
    const r = await spike(['--json'], { ollamaWeightsMiB: 3852, specFile: true });
    assert.equal(r.code, 1, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.verdict, 'NO-GO');
    assert.deepEqual(
      json.rows.map((row: { usedBytes: number; deltaBytes: number | null }) => [row.usedBytes / MiB, row.deltaBytes === null ? null : row.deltaBytes / MiB]),
      [
        [1464, null],
        [2580, 1116],
        [7080, 4500],
        [7083, 3],
      ],
    );
    assert.equal(json.decision.marginBytes, -939 * MiB);
    assert.equal(json.decision.level, 'warning');
    assert.equal(json.headroomBytes, (8192 - 7083) * MiB);
    const { md } = await saved(r.out);
    assert.match(md, /\*\*NO-GO\*\* — the concurrent peak of 7083 MiB is 939 MiB above the WARNING threshold of 6144 MiB \(WARNING\)\./);
    assert.deepEqual(await emulatorDescendants(), []);
  });

  it('cancelled while the second server starts: an incomplete report is saved and no process is left', async () => {
    const r = await spike([], { ollamaWeightsMiB: 2190, cancelWhen: /^spike: starting ollama/m });
    assert.equal(r.code, 4, r.stderr);
    assert.doesNotMatch(r.stderr, /ollama: one request/, 'cancelled before Ollama was ready');
    const { md, json } = await saved(r.out);
    assert.equal(json.status, 'cancelled');
    assert.equal(json.complete, false);
    assert.equal(json.verdict, null);
    assert.match(md, /\*\*INCOMPLETE — cancelled: The spike was cancelled\.\*\*/);
    assert.ok(md.includes('| + whisper | 2580 | 31.5% | +1116 MiB |'), md);
    assert.doesNotMatch(md, /Concurrent inference peak/);
    const [whisper, ollama] = json.servers;
    assert.ok(whisper && ollama, `two servers in the report, got ${json.servers.length}`);
    assert.equal(whisper.stop?.how, 'SIGTERM');
    assert.ok(whisper.pid !== null, 'whisper has no PID');
    assert.equal(alive(whisper.pid), false);
    assert.equal(ollama.stop, null);
    assert.deepEqual(await emulatorDescendants(), []);
    const state = parseFakeState(await readFile(statePath, 'utf8'));
    assert.equal(state.devices[0]!.used, 1464 * MiB);
    assert.deepEqual(
      state.devices[0]!.processes?.map((p) => p.pid),
      [1187, 2290],
    );
  });

  it('a server that exits during start: incomplete, with its log lines; the first one is stopped', async () => {
    const r = await spike([], { ollamaWeightsMiB: 2190, ollamaExtra: ['--exit-during-start', '3'] });
    assert.equal(r.code, 4, r.stderr);
    const { md, json } = await saved(r.out);
    assert.equal(json.status, 'failed');
    assert.match(json.problem ?? '', /^"ollama" did not start: The server exited during start-up with exit code 3/);
    assert.match(md, /\*\*INCOMPLETE — failed: "ollama" did not start/);
    assert.match(md, /### ollama\n\n- Did not start: [^\n]+\n\n```text\n[^`]*emulated start-up failure/);
    const [first] = json.servers;
    assert.ok(first, 'a server in the report');
    assert.equal(first.stop?.how, 'SIGTERM');
    assert.ok(first.pid !== null, `${first.name} has no PID`);
    assert.equal(alive(first.pid), false);
    assert.deepEqual(await emulatorDescendants(), []);
  });

  it('exits 2 and starts nothing without a GPU source', async () => {
    let stderr = '';
    const io: CliIo = {
      stdout: () => {},
      stderr: (t) => {
        stderr += t;
      },
      env: { VRAM_GUARD_NVML_LIBRARY: '/nonexistent/libnvidia-ml.so.1' },
      interrupted: new Promise(() => {}),
    };
    const out = await mkdtemp(join(tmpdir(), 'vram-guard-spikes-'));
    const code = await runSpikeCommand(
      [...serverFlags(await servers(2190)), '--source', 'nvml', '--nvml-library', '/nonexistent/libnvidia-ml.so.1', '--out', out],
      io,
    );
    assert.equal(code, 2);
    assert.match(stderr, /no GPU source available, so nothing was started/);
    assert.deepEqual(await readdir(out), []);
    assert.deepEqual(await emulatorDescendants(), []);
  });
});
