/** The CLI's ledger through the built dist/cli.cjs: used memory split into named process trees, the others and the residual. Needs `npm run build` first. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildFakeNvml, FakeNvmlState, MiB, laptopA1000AtCritical } from '../../helpers/fake-nvml.ts';
import { cliPath as cli, runCli } from '../../helpers/cli-run.ts';
import { startAs } from '../../helpers/gpu-process.ts';

let lib: string;
before(async () => {
  assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
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
      devices: [
        {
          ...laptopA1000AtCritical.devices[0]!,
          processes: [
            { pid, used: 2048 * MiB, name: 'llama-server' },
            { pid: 2001, used: 1024 * MiB, name: '/usr/bin/python3' },
          ],
        },
      ],
    });
    const r = await runCli(['ledger', '--json', '--owner', `llm=${pid}`, '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
    assert.equal(r.code, 0, r.stderr);
    const gpu = JSON.parse(r.stdout).gpus[0];
    assert.deepEqual(
      gpu.owners.map((o: { name: string; pids: number[]; nvmlBytes: number }) => [o.name, o.pids, o.nvmlBytes]),
      [['llm', [pid], 2048 * MiB]],
    );
    assert.deepEqual(
      gpu.other.map((p: { pid: number; name: string; usedBytes: number; kind: string }) => [p.pid, p.name, p.usedBytes, p.kind]),
      [[2001, '/usr/bin/python3', 1024 * MiB, 'unknown']],
    );
    assert.equal(gpu.residualBytes, (3830 - 2048 - 1024) * MiB);
    const text = await runCli(['ledger', '--owner', `llm=${pid}`, '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
    assert.match(text.stdout, /2048 MiB {2}llm \[task\] PID/);
    assert.match(text.stdout, /758 MiB {2}residual \(no running process\)/);
  });

  it('names the processes no one named: kind, model, port, and who started them', async () => {
    const server = await startAs('llama-server', ['-m', '/models/qwen2.5-7b-q4_k_m.gguf', '-c', '8192']);
    const runner = await startAs('ollama', ['runner', '--model', '/var/lib/ollama/blobs/sha256-6a07', '--port', '0']);
    try {
      const fake = await FakeNvmlState.create({
        devices: [
          {
            ...laptopA1000AtCritical.devices[0]!,
            processes: [
              { pid: server.pid, used: 2048 * MiB, name: 'llama-server' },
              { pid: runner.pid, used: 1024 * MiB, name: 'ollama' },
            ],
          },
        ],
      });
      const r = await runCli(['ledger', '--json', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
      assert.equal(r.code, 0, r.stderr);
      const other = JSON.parse(r.stdout).gpus[0].other;
      assert.deepEqual(
        other.map((p: Record<string, unknown>) => [p.pid, p.kind, p.role, p.model, p.port, p.startedBy]),
        [
          [server.pid, 'llama-server', null, '/models/qwen2.5-7b-q4_k_m.gguf', server.port, 'outside'],
          [runner.pid, 'ollama', 'runner', '/var/lib/ollama/blobs/sha256-6a07', runner.port, 'outside'],
        ],
      );
      const text = await runCli(['ledger', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
      assert.ok(
        text.stdout.includes(`2048 MiB  llama-server (PID ${server.pid}) — llama-server · /models/qwen2.5-7b-q4_k_m.gguf · :${server.port}`),
        text.stdout,
      );
      assert.ok(text.stdout.includes(`ollama (PID ${runner.pid}) — ollama runner · /var/lib/ollama/blobs/sha256-6a07 · :${runner.port} · up `), text.stdout);
    } finally {
      server.stop();
      runner.stop();
    }
  });

  it('a wrong --owner says what it should look like', async () => {
    const r = await runCli(['ledger', '--owner', 'llm']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /--owner "llm": start with NAME=PID/);
  });
});
