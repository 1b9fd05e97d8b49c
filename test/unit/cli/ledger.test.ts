/** The CLI's ledger through the built dist/cli.cjs: used memory split into named process trees, the others and the residual. Needs `npm run build` first. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildFakeNvml, FakeNvmlState, MiB, laptopA1000AtCritical } from '../../helpers/fake-nvml.ts';
import { cliPath as cli, runCli } from '../../helpers/cli-run.ts';

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
