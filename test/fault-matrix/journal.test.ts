/**
 * Fault matrix: the journal of a systemd user unit that holds a GPU, followed for CUDA-error
 * cascades. Real processes: a stand-in journalctl (test/fixtures/journal/journalctl.ts, given by
 * path; it records its arguments) floods, writes a 1 MB line, exits, or is missing.
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { test } from 'node:test';
import { JournalFollower } from '../../src/core/servers/journal/journal-follower.ts';
import { UnitJournals } from '../../src/core/servers/journal/unit-journals.ts';
import { formatMiB, MiB } from '../../src/core/units.ts';
import { recognised } from '../helpers/outside-servers.ts';
import { pollUntil } from '../helpers/servers.ts';
import { journalctlStandIns } from '../helpers/stand-in-journalctl.ts';

const journalctl = journalctlStandIns();

function follower(program: string, unit = 'speaches.service') {
  const said: string[] = [];
  const f = new JournalFollower({ unit, program, onCascade: () => {}, say: (m) => said.push(m) });
  return { f, said };
}

test('a unit journal floods at 10,000 lines a second, 100 of them CUDA errors → past 5,000 a second lines are dropped unread and counted in one log line; the cascade is still called; memory and the extension host stay free', async (t) => {
  const stand = await journalctl({ mode: 'flood', seconds: 4, errorEvery: 100 });
  const said: string[] = [];
  const cascades: number[] = [];
  const f = new JournalFollower({ unit: 'speaches.service', program: stand.program, onCascade: (c) => cascades.push(c.perSecond), say: (m) => said.push(m) });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  const buffersBefore = process.memoryUsage().arrayBuffers;
  let buffersPeak = 0;
  const peak = setInterval(() => {
    buffersPeak = Math.max(buffersPeak, process.memoryUsage().arrayBuffers - buffersBefore);
  }, 20);
  delay.enable();
  f.start();
  try {
    await pollUntil(() => f.ended, 'the flood ends', 20_000);
  } finally {
    delay.disable();
    clearInterval(peak);
  }
  const c = f.counts;
  assert.equal(c.read + c.dropped, 40_000, 'every line is either read or counted as dropped');
  assert.ok(c.dropped > 0, `${c.dropped} dropped`);
  assert.ok(c.read <= 5000 * 6, `${c.read} read in about 4 s`);
  assert.equal(cascades.length, 1, `the errors among the lines read make one cascade (${c.errors} errors read)`);
  assert.ok(
    said.some((m) => /^journal of speaches\.service: [\d,]+ lines dropped unread \(more than 5,000 a second\)$/.test(m)),
    said.join('\n'),
  );
  assert.match(said.at(-1) ?? '', /journalctl for speaches\.service ended \(exit code 0\); its journal is no longer watched/);
  assert.ok(buffersPeak < 16 * MiB, `${formatMiB(buffersPeak)} of buffers held`);
  assert.ok(delay.max < 500e6, `the event loop was held ${(delay.max / 1e6).toFixed(0)} ms at most`);
  t.diagnostic(
    `flood: ${c.read} read, ${c.dropped} dropped, ${c.errors} errors; buffers ${formatMiB(buffersPeak)}; event loop held ${(delay.max / 1e6).toFixed(0)} ms at most`,
  );
});

test('a 1 MB journal line with a CUDA error near its end → the error is counted, the line scanned as it streams and never parsed or held, and the log says so', async () => {
  const stand = await journalctl({ mode: 'long' });
  const { f, said } = follower(stand.program);
  f.start();
  try {
    await pollUntil(() => f.counts.read === 2 || null, 'both lines read', 10_000);
    assert.deepEqual(f.counts, { read: 2, long: 1, dropped: 0, unreadable: 0, errors: 1 });
    assert.ok(
      said.some((m) => m === 'journal of speaches.service: 1 over-long lines scanned for errors without being parsed'),
      said.join('\n'),
    );
  } finally {
    await f.stop();
  }
});

test('a unit name with odd characters ("x;rm -rf ~.service", "-f.service", "a b.service") → refused with a message naming it; journalctl never runs', async () => {
  const stand = await journalctl({ mode: 'long' });
  for (const unit of ['x;rm -rf ~.service', '-f.service', 'a b.service', 'speaches.service\n-f', 'speaches.service\n']) {
    const { f, said } = follower(stand.program, unit);
    f.start();
    assert.equal(said.length, 1);
    assert.match(said[0] ?? '', /is not a plain systemd service name .* it is refused; its journal is not followed$/);
    assert.ok(f.ended);
    await f.stop();
  }
  assert.deepEqual(await stand.calls(), []);
});

test('journalctl missing → one message naming it and what it is needed for, whatever the number of units; nothing crashes', async () => {
  const said: string[] = [];
  const processes = [
    recognised({ pid: 21, kind: 'faster-whisper', unit: { name: 'speaches.service', scope: 'user' } }),
    recognised({ pid: 22, kind: 'llama-server', unit: { name: 'llm.service', scope: 'user' } }),
  ];
  const journals = new UnitJournals({ processes: async () => processes, report: () => {}, say: (m) => said.push(m), program: '/nonexistent/journalctl' });
  await journals.update([0], true);
  await pollUntil(() => said.length > 0 || null, 'the message');
  await journals.update([0], true);
  await journals.dispose();
  assert.deepEqual(said, [
    "/nonexistent/journalctl was not found: the journal of speaches.service is not watched for CUDA errors (it needs systemd's journalctl on the PATH)",
  ]);
});

test('journalctl exits (code 1, "No journal files were found.") → told once with its exit code and last line; not started again while that process lives', async () => {
  const stand = await journalctl({ mode: 'fail' });
  const said: string[] = [];
  const processes = [recognised({ pid: 31, kind: 'whisper-cpp', unit: { name: 'whisper.service', scope: 'user' } })];
  const journals = new UnitJournals({ processes: async () => processes, report: () => {}, say: (m) => said.push(m), program: stand.program });
  await journals.update([0], true);
  await pollUntil(() => said.length > 0 || null, 'the message', 10_000);
  await journals.update([0], true);
  await journals.dispose();
  assert.deepEqual(said, [
    'journalctl for whisper.service ended (exit code 1): No journal files were found.; its journal is no longer watched for CUDA errors',
  ]);
  assert.equal((await stand.calls()).length, 1);
});
