/** The `vram-guard aec` arguments and the report rendering (no sound server needed). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAecArgs, runAecCommand } from '../../../src/cli/aec.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { renderJson, renderMarkdown } from '../../../src/core/aec/report.ts';
import type { AecReport } from '../../../src/core/aec/verify.ts';
import { worstStatus } from '../../../src/core/check-result.ts';

function io(env: NodeJS.ProcessEnv = {}): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => out.push(t), stderr: (t) => err.push(t), env, interrupted: new Promise(() => undefined) };
}

describe('aec arguments', () => {
  it('has the defaults', () => {
    const r = parseAecArgs([]);
    assert.ok('args' in r);
    assert.equal(r.args.source, 'Echo Cancellation Source');
    assert.equal(r.args.seconds, 1);
    assert.deepEqual(r.args.format, { sampleFormat: 's16le', channels: 1, rate: 24000 });
    assert.equal(r.args.echoTest, false);
  });

  it('reads every option, with a space or =', () => {
    const r = parseAecArgs([
      '--source',
      'My Source',
      '--seconds=2',
      '--format',
      'float32le:2:48000',
      '--echo-test',
      '--echo-seconds',
      '3',
      '--json',
      '--fail-on-warn',
    ]);
    assert.ok('args' in r);
    assert.deepEqual(r.args, {
      source: 'My Source',
      seconds: 2,
      format: { sampleFormat: 'float32le', channels: 2, rate: 48000 },
      echoTest: true,
      echoSeconds: 3,
      json: true,
      failOnWarn: true,
      help: false,
    });
  });

  it('names every problem', () => {
    const r = parseAecArgs(['--seconds', 'x', '--format', 'wav', '--bogus', '--source']);
    assert.ok('problems' in r);
    assert.equal(r.problems.length, 4);
  });

  it('exits 64 on wrong usage and 0 with --help', async () => {
    const a = io();
    assert.equal(await runAecCommand(['--seconds', '0'], a), 64);
    assert.match(a.err.join(''), /--seconds needs a number of seconds from 0.2 to 30/);
    const b = io();
    assert.equal(await runAecCommand(['--help'], b), 0);
    assert.match(b.out.join(''), /Usage: vram-guard aec/);
  });
});

const sample: AecReport = {
  kind: 'vram-guard/aec-report',
  version: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  available: true,
  status: 'fail',
  sourceName: 'Echo Cancellation Source',
  format: { sampleFormat: 's16le', channels: 1, rate: 24000 },
  recordSeconds: 1,
  echoTest: false,
  pipewireVersion: '0.3.65',
  settingsProblems: ['rate "x" is not a whole number of Hz from 8000 to 192000'],
  checks: [
    { id: 'aec.server', title: 'PipeWire answers', status: 'pass', detail: 'PipeWire 0.3.65 answers.', advice: '' },
    { id: 'aec.source', title: 'Source "a|b" exists', status: 'fail', detail: 'No source is named exactly "a|b".', advice: 'Use "c".' },
  ],
};

describe('aec without the tools', () => {
  it('is "not available" and names the package when pactl is missing', { skip: process.platform !== 'linux' }, async () => {
    const a = io({ PATH: '/nonexistent' });
    assert.equal(await runAecCommand(['--json'], a), 4);
    const report = JSON.parse(a.out.join('')) as AecReport;
    assert.equal(report.available, false);
    assert.match(report.checks[0]!.detail, /pactl is not installed/);
    assert.match(report.checks[0]!.advice, /apt-get install pulseaudio-utils/);
  });
});

describe('aec report', () => {
  it('renders a Markdown table with what to do, pipes escaped', () => {
    const md = renderMarkdown(sample);
    assert.match(md, /^# Echo-cancellation check/);
    assert.match(md, /\*\*❌ fail\*\*/);
    assert.match(md, /\| 2 \| Source "a\\\|b" exists \| ❌ fail \|/);
    assert.match(md, /## What to do\n\n- \*\*Source "a\|b" exists:\*\* Use "c"\./);
    assert.match(md, /Setting ignored \(the default is used\): rate "x"/);
    assert.match(md, /--echo-test/);
  });

  it('renders JSON that reads back the same', () => {
    assert.deepEqual(JSON.parse(renderJson(sample)), sample);
  });

  it('takes the worst status', () => {
    assert.equal(worstStatus([]), 'pass');
    assert.equal(worstStatus(sample.checks), 'fail');
    assert.equal(worstStatus([...sample.checks, { id: 'x', title: 'x', status: 'unavailable', detail: '', advice: '' }]), 'unavailable');
  });
});
