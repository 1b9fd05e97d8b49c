/** The CLI's help and typo messages, through the built dist/cli.cjs. Needs `npm run build` first. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { cliPath as cli, runCli } from '../../helpers/cli-run.ts';

before(() => {
  assert.ok(existsSync(cli), `${cli} is missing: run "npm run build" first`);
});

describe('vram-guard help', () => {
  const commands = ['status', 'watch', 'preflight', 'run', 'spike', 'aec', 'fallback', 'history', 'ledger'];

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

  it('every command that takes no words refuses one, before it reads anything', async () => {
    for (const c of ['status', 'watch', 'preflight', 'fallback', 'ledger', 'spike', 'exporter', 'fleet']) {
      const r = await runCli([c, 'extra']);
      assert.equal(r.code, 64, `${c}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^vram-guard ${c}: unexpected argument "extra"`), c);
    }
    const analyze = await runCli(['history', 'analyze', 'a.jsonl', 'b.jsonl']);
    assert.equal(analyze.code, 64);
    assert.match(analyze.stderr, /unexpected argument "b\.jsonl"/);
  });

  it('status and fleet check --thresholds with the same rules and words', async () => {
    const bad = ['--thresholds', 'warning=90%,critical=80%,emergency=95%'];
    for (const c of [
      ['status', ...bad],
      ['fleet', '--targets', 'http://127.0.0.1:1/metrics', ...bad],
    ]) {
      const r = await runCli(c, {});
      assert.equal(r.code, 64, r.stderr);
      assert.match(r.stderr, /--thresholds: warning < critical < emergency is required/);
    }
  });
});
