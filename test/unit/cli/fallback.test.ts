/** The CLI twin of the editor's fallback commands, through the built dist/cli.cjs: the chain's dry run and a step run by hand. Needs `npm run build` first. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { buildFakeNvml, FakeNvmlState, MiB, laptopA1000AtCritical } from '../../helpers/fake-nvml.ts';
import { cliPath as cli, runCli } from '../../helpers/cli-run.ts';

let lib: string;
before(async () => {
  assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
  lib = await buildFakeNvml();
});

describe('vram-guard fallback', () => {
  it('--dry-run says what each step of the default chain would do, and does nothing', async () => {
    const fake = await FakeNvmlState.create(laptopA1000AtCritical);
    const r = await runCli(['fallback', '--dry-run', '--nvml-library', lib], { FAKE_NVML_STATE: fake.path });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^# Fallback chain — dry run/m);
    assert.match(r.stdout, /nothing was done/);
    // The default chain: reduce context (any server), unload Ollama, Whisper to the CPU.
    assert.match(
      r.stdout,
      /\| 0 · CRITICAL · 3830 MiB of 4096 MiB \| 1\. reduceContext \| confirm \| would do nothing: no running server on GPU 0; none started outside VRAM Guard either; trigger CRITICAL \(3686 MiB\) is met at 3830 MiB \|/,
    );
    assert.match(r.stdout, /\| 2\. unloadModel ollama \| confirm \| would do nothing: no running "ollama" on GPU 0; none started outside VRAM Guard either/);
    assert.doesNotMatch(r.stdout, /any server/);
  });

  it('--step runs a command step only with --yes', async () => {
    const fake = await FakeNvmlState.create(laptopA1000AtCritical);
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-fallback-'));
    const marker = join(dir, 'ran');
    const chain = join(dir, 'chain.json');
    await writeFile(
      chain,
      JSON.stringify({
        'vramGuard.fallbackChain': [
          {
            action: 'command',
            command: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`],
            trigger: 'critical',
            label: 'free memory',
          },
        ],
      }),
    );
    const env = { FAKE_NVML_STATE: fake.path, VRAM_GUARD_NVML_LIBRARY: lib };
    const asked = await runCli(['fallback', '--step', '1', '--chain', chain, '--settle-timeout', '0'], env);
    assert.equal(asked.code, 3, asked.stderr);
    assert.match(asked.stdout, /^Not run \(add --yes to run it\): step 1 \(free memory\) on GPU 0: would ask, then run .*node/);
    assert.equal(existsSync(marker), false, 'without --yes nothing runs');
    const ran = await runCli(['fallback', '--step', '1', '--chain', chain, '--settle-timeout', '0', '--yes', '--json'], env);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(await readFile(marker, 'utf8'), 'ran');
    const event = JSON.parse(ran.stdout).event;
    assert.deepEqual(
      { result: event.result, origin: event.origin, gpu: event.gpu, usedBefore: event.usedBefore },
      { result: 'done', origin: 'manual', gpu: 0, usedBefore: 3830 * MiB },
    );
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
    assert.match(bad.stderr, /"action" must be one of reduceContext, unloadModel, moveToCpu, stopServer, restartServer, command/);
  });
});
