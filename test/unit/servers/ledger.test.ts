/** The VRAM ledger: processes joined to task trees, server reports beside NVML, residual memory. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { emptyDevice, type GpuSample } from '../../../src/core/gpu/types.ts';
import { buildLedger, collectLedger, ledgerText } from '../../../src/core/servers/ledger.ts';
import type { ProcessTable } from '../../../src/core/servers/process-tree.ts';
import { parseStat } from '../../../src/core/servers/process-tree.ts';
import { postJson } from '../../../src/core/servers/http.ts';
import { GiB, MiB } from '../../../src/core/units.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { pollUntil } from '../../helpers/servers.ts';

function sample(used: number, processes: Array<[number, number | null, string]>): GpuSample {
  const d = emptyDevice(0);
  d.name = 'Test GPU';
  d.memory = { total: 8 * GiB, used, free: 8 * GiB - used, reserved: 0 };
  d.processes = processes.map(([pid, bytes, name]) => ({ pid, usedBytes: bytes, name, kind: 'compute' }));
  return { source: 'nvml', timestamp: 0, driverVersion: null, sourceVersion: null, devices: [d] };
}

const table = (rows: Array<[number, number, string]>): ProcessTable => new Map(rows.map(([pid, ppid, name]) => [pid, { pid, ppid, name }]));

describe('ledger', () => {
  it('parses /proc stat lines whose command names hold spaces and parentheses', () => {
    assert.deepEqual(parseStat('4242 (llama server (x)) S 1 4242 4242 0 -1'), { pid: 4242, ppid: 1, name: 'llama server (x)' });
  });

  it('attributes processes to the task whose tree holds them, and shows the rest apart', () => {
    const t = table([
      [100, 1, 'bash'],
      [101, 100, 'python3'],
      [102, 101, 'python3'],
      [200, 1, 'ollama'],
      [201, 200, 'ollama'],
    ]);
    const [g] = buildLedger({
      sample: sample(6000 * MiB, [
        [102, 1116 * MiB, 'python3'],
        [201, 2838 * MiB, 'ollama'],
        [1187, 214 * MiB, 'Xorg'],
      ]),
      table: t,
      owners: [
        { name: 'whisper (shell task)', kind: 'task', rootPid: 100, baseUrl: null, gpu: null },
        { name: 'ollama', kind: 'ollama', rootPid: 200, baseUrl: 'http://127.0.0.1:1', gpu: 0, expectedBytes: 2879 * MiB },
      ],
      reports: new Map([
        [
          'ollama',
          {
            kind: 'ollama',
            reachable: true,
            healthy: true,
            models: [{ name: 'llama3.2:3b', vramBytes: 2500 * MiB, contextLength: 4096 }],
            contextLength: null,
            sleeping: null,
            error: null,
          },
        ],
      ]),
    });
    assert.ok(g);
    assert.deepEqual(
      g.owned.map((e) => [e.owner.name, e.nvmlBytes! / MiB, e.reportedBytes && e.reportedBytes / MiB]),
      [
        ['ollama', 2838, 2500],
        ['whisper (shell task)', 1116, null],
      ],
    );
    assert.deepEqual(
      g.other.map((p) => p.pid),
      [1187],
    );
    assert.equal(g.residualBytes, (6000 - 2838 - 1116 - 214) * MiB);
    assert.match(g.residualHint!, /1832 MiB of used VRAM belongs to no running process.*Is it a leak\?/);
    const text = ledgerText([g]);
    assert.match(text, /2838 MiB {2}ollama \[ollama\] PID 201 · server says 2500 MiB · llama3\.2:3b \(ctx 4096\)/);
    // The gate's expectation beside what NVML measured once the server runs.
    assert.match(text, /estimate 2879 MiB, measured 2838 MiB \(NVML\): 41 MiB \(1\.4%\) above, within 15%/);
    assert.match(text, /1832 MiB {2}residual/);
  });

  it('gives no residual figure when the driver hides per-process memory', () => {
    const [g] = buildLedger({ sample: sample(3000 * MiB, [[5, null, 'x']]), table: new Map(), owners: [] });
    assert.equal(g?.residualBytes, null);
    assert.equal(g?.residualHint, null);
  });
});

describe('ledger with emulated servers', () => {
  let h: ServerHarness;
  before(async () => {
    h = await ServerHarness.create();
  });
  after(async () => {
    await h?.dispose();
  });

  it('attributes a task server’s VRAM to the task and shows the server’s own figure beside it', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const s = await h.task('ollama', 'ollama', ['--model', 'llama3.2:3b=2000:112', '--nvml-extra-mib', '250'], { needs: '3GiB' });
    assert.ok((await s.start()).ok);
    await postJson(`${s.baseUrl}/api/generate`, { model: 'llama3.2:3b', prompt: 'hi', stream: false });
    const [g] = await collectLedger(await h.source.sample(Date.now()), h.registry.owners());
    const entry = g!.owned.find((e) => e.owner.name === 'ollama');
    assert.equal(entry?.nvmlBytes, 2698 * MiB);
    assert.equal(entry?.reportedBytes, 2448 * MiB);
    assert.equal(entry?.processes[0]?.pid, s.pid);
    assert.equal(g!.residualBytes, 0);
    await s.stop();
  });

  it('shows residual memory when a process vanishes but its memory stays', async () => {
    await h.fake.write({ devices: [baseGpu()] });
    const s = await h.task('leaky', 'llama-server', ['-m', 'm.gguf', '-c', '4096', '--weights-mib', '1500', '--leak-on-exit'], { needs: '2GiB' });
    const r = await s.start();
    assert.ok(r.ok);
    const before = buildLedgerNow();
    assert.equal((await before)[0]!.residualBytes, 0);
    await s.stop();
    const [g] = await pollUntil(async () => {
      const l = await buildLedgerNow();
      return l[0]!.owned.length === 0 ? l : null;
    }, 'the server to leave the process list');
    assert.equal(g!.residualBytes, (1500 + 512 + 100) * MiB);
    assert.match(g!.residualHint!, /2112 MiB of used VRAM belongs to no running process/);
  });

  async function buildLedgerNow() {
    return collectLedger(await h.source.sample(Date.now()), h.registry.owners());
  }
});
