/** The echo-cancellation check where it cannot pass: no module, no PipeWire, not Linux. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyEchoCancellation } from '../../src/core/aec/verify.ts';
import { renderMarkdown } from '../../src/core/aec/report.ts';
import { runAecCommand } from '../../src/cli/aec.ts';
import { noServerEnv, requirePipewireTools, startPipewire, type PrivatePipewire } from '../helpers/pipewire.ts';

describe('echo-cancellation check, module not loaded', () => {
  let pw: PrivatePipewire | undefined;
  before(async () => {
    pw = await startPipewire({ echoCancel: 'none' });
  });
  after(async () => {
    await pw?.stop();
  });

  it('fails the module check, and the source and recording checks', async () => {
    const report = await verifyEchoCancellation({ env: pw!.env, echoTest: true });
    const md = renderMarkdown(report);
    assert.deepEqual(
      report.checks.map((c) => [c.id, c.status]),
      [
        ['aec.server', 'pass'],
        ['aec.module', 'fail'],
        ['aec.source', 'fail'],
        ['aec.recording', 'fail'],
        ['aec.echo', 'fail'],
      ],
      md,
    );
    const mod = report.checks[1]!;
    assert.match(mod.detail, /not loaded/);
    assert.match(mod.advice, /pipewire\.conf\.d\/echo-cancel\.conf/);
    // The default source is the virtual microphone: the recording fell back to it.
    assert.equal(report.checks[3]!.data?.streamSource, pw!.micName);
    assert.match(report.checks[4]!.detail, /^Not run/);
  });
});

describe('echo-cancellation check, PipeWire not running', () => {
  let none: Awaited<ReturnType<typeof noServerEnv>> | undefined;
  before(async () => {
    await requirePipewireTools();
    none = await noServerEnv();
  });
  after(async () => {
    await none?.cleanup();
  });

  it('gives one "not available" result with the reason', async () => {
    const report = await verifyEchoCancellation({ env: none!.env, echoTest: true });
    assert.equal(report.available, false);
    assert.equal(report.status, 'unavailable');
    assert.equal(report.checks.length, 1);
    const c = report.checks[0]!;
    assert.equal(c.status, 'unavailable');
    assert.match(c.detail, /^Not available here: no PulseAudio-compatible sound server answers \(.*Connection/);
    assert.match(c.advice, /systemctl --user start pipewire/);
  });

  it('exits 4 from the CLI, with the reason in the report', async () => {
    const out: string[] = [];
    const code = await runAecCommand([], { stdout: (t) => out.push(t), stderr: () => undefined, env: none!.env, interrupted: new Promise(() => undefined) });
    assert.equal(code, 4);
    assert.match(out.join(''), /Not available here/);
  });
});

describe('echo-cancellation check, not Linux', () => {
  it('gives one "not available" result without running any tool', async () => {
    const report = await verifyEchoCancellation({ platform: 'win32', env: { PATH: '' } });
    assert.equal(report.available, false);
    assert.equal(report.checks.length, 1);
    assert.match(report.checks[0]!.detail, /needs Linux with PipeWire, and this is win32/);
  });
});
