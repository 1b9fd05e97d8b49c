/**
 * The journal of a systemd user unit, followed for CUDA-error cascades: journalctl's JSON lines
 * (MESSAGE as text, bytes or null), the bounded line reader on a fake clock, and the follower and
 * the unit watcher against a stand-in journalctl that replays field note 001 (4,759 "unspecified
 * launch failure" errors at 40–50 a second) — the cascade becomes the same report as a task's: the
 * history event's text, and the chain's `cascade` step restarting the unit with (a stand-in)
 * `systemctl --user restart`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FallbackChain } from '../../../src/core/fallback/chain.ts';
import { emptyDevice } from '../../../src/core/gpu/types.ts';
import { cascadeEvent } from '../../../src/core/history/events.ts';
import { parseSteps } from '../../../src/core/servers/fallback-steps.ts';
import { messageText, parseJournalLine } from '../../../src/core/servers/journal/journal-entry.ts';
import { JournalFollower, journalArgs } from '../../../src/core/servers/journal/journal-follower.ts';
import { JournalLines } from '../../../src/core/servers/journal/journal-lines.ts';
import { UnitJournals } from '../../../src/core/servers/journal/unit-journals.ts';
import { groupAlive, groupRunning } from '../../../src/core/servers/process-tree.ts';
import { type ServerCascade, ServerRegistry } from '../../../src/core/servers/server-registry.ts';
import { GiB } from '../../../src/core/units.ts';
import type { WatchedSample } from '../../../src/core/watch/watcher.ts';
import { outsideExecutor, recognised, standInSystemctl } from '../../helpers/outside-servers.ts';
import { pollUntil } from '../../helpers/servers.ts';
import { journalctlStandIns } from '../../helpers/stand-in-journalctl.ts';

const journalctl = journalctlStandIns();

/** The field note's speech burst, 07:14:57 UTC. */
const BURST = 1_761_894_897_000;

describe('journal lines', () => {
  it('reads MESSAGE as text, as bytes (binary) and as null, with the PID and the time', () => {
    const text = parseJournalLine('{"__REALTIME_TIMESTAMP":"1761894897123456","_PID":"965","MESSAGE":"CUDA error: unspecified launch failure"}');
    assert.deepEqual(text, { message: 'CUDA error: unspecified launch failure', pid: 965, at: 1_761_894_897_123 });
    const bytes = [...Buffer.from('\x1b[31mCUDA error\xff', 'latin1')];
    assert.equal(parseJournalLine(JSON.stringify({ MESSAGE: bytes }))?.message, '\x1b[31mCUDA error\xff');
    assert.deepEqual(parseJournalLine('{"MESSAGE":null}'), { message: null, pid: null, at: null });
    assert.equal(parseJournalLine('{"_PID":"12"}')?.message, null);
    assert.equal(messageText([67, 'x', -1, 300, 1.5, 85]), 'CU', 'only byte values are kept');
    assert.equal(messageText({ a: 1 }), null);
    assert.equal(parseJournalLine('{"MESSAGE":"cut sh'), null);
    assert.equal(parseJournalLine('[1,2]'), null);
    assert.equal(parseJournalLine('-- No entries --'), null);
  });

  it('hands over whole lines, streams a line over the limit, and skips lines past the rate, whatever the chunks', () => {
    let now = 0;
    const lines: string[] = [];
    const long: string[] = [];
    let longText = '';
    const r = new JournalLines({
      maxLineBytes: 64,
      maxLinesPerSecond: 3,
      now: () => now,
      onLine: (l) => lines.push(l.toString()),
      onLongPiece: (p, end) => {
        longText += p.toString();
        if (end) {
          long.push(longText);
          longText = '';
        }
      },
    });
    const big = 'L'.repeat(200);
    const text = `one\ntwo\n${big}\nfour\nfive\n`;
    for (const c of text) r.push(Buffer.from(c));
    assert.deepEqual(lines, ['one', 'two']);
    assert.deepEqual(long, [big]);
    assert.deepEqual({ read: r.read, long: r.long, dropped: r.dropped }, { read: 3, long: 1, dropped: 2 });
    now = 1000;
    r.push(Buffer.from('six\nseven'));
    r.end();
    assert.deepEqual(lines, ['one', 'two', 'six', 'seven'], 'a new second reads again; the last line is finished at the end');
  });

  it('a journal cut off by a stop drops the fragment of its last write instead of reading it as a line', () => {
    const lines: string[] = [];
    const r = new JournalLines({ onLine: (l) => lines.push(l.toString()), onLongPiece: () => {} });
    r.push(Buffer.from('{"MESSAGE":"whole"}\n{"MESSAGE":"cut of'));
    r.cut();
    r.push(Buffer.from('next\n'));
    assert.deepEqual(lines, ['{"MESSAGE":"whole"}', 'next']);
  });
});

describe('following a unit journal', () => {
  it("replays field note 001 from the journal: one cascade, timed by the journal's clock, with the entry's PID", async () => {
    const stand = await journalctl({ mode: 'field-note', start: BURST, pid: 965 });
    const cascades: Array<{ startedAt: number; detectedAt: number; perSecond: number; excerpt: string; pid: number | null }> = [];
    const said: string[] = [];
    const f = new JournalFollower({
      unit: 'swictation.service',
      program: stand.program,
      // The stand-in writes four minutes of journal at once: no rate limit here (fault-matrix/journal.test.ts has it).
      maxLinesPerSecond: 1_000_000,
      onCascade: (c, last, pid) => cascades.push({ startedAt: c.startedAt, detectedAt: c.detectedAt, perSecond: c.perSecond, excerpt: last.excerpt, pid }),
      say: (m) => said.push(m),
    });
    f.start();
    try {
      await pollUntil(() => f.counts.errors === 4759 || null, 'all 4,759 errors read', 20_000);
      assert.deepEqual(await stand.calls(), [journalArgs('swictation.service')]);
      assert.deepEqual(journalArgs('swictation.service'), [
        '--user',
        '-u',
        'swictation.service',
        '-f',
        '-o',
        'json',
        '-n',
        '0',
        '--output-fields=MESSAGE,_PID',
      ]);
      assert.equal(cascades.length, 1, 'four minutes at 40–50 a second is one cascade');
      const c = cascades[0]!;
      assert.equal(c.startedAt, BURST);
      assert.ok(c.detectedAt - c.startedAt >= 2000 && c.detectedAt - c.startedAt < 3000, `called ${c.detectedAt - c.startedAt} ms in`);
      assert.ok(c.perSecond >= 40, `${c.perSecond} a second`);
      assert.match(c.excerpt, /CUDA error: unspecified launch failure/);
      assert.equal(c.pid, 965);
      assert.equal(f.counts.read, 3 * 4759);
      assert.equal(f.counts.unreadable, 0);
      assert.deepEqual(said, []);
    } finally {
      await f.stop();
    }
  });

  it("a cascade in a user unit is reported as a task's: the history event names the unit, and its cascade step restarts it with systemctl --user", async () => {
    const stand = await journalctl({ mode: 'field-note', start: Date.now() - 300_000, pid: 965 });
    const systemctl = await standInSystemctl();
    const speaches = recognised({
      pid: 965,
      kind: 'faster-whisper',
      model: 'distil-large-v3',
      ports: [50227],
      unit: { name: 'speaches.service', scope: 'user' },
    });
    let processes = [speaches];
    const registry = new ServerRegistry();
    const { steps, problems } = parseSteps([{ action: 'restartServer', target: 'whisper', trigger: 'cascade' }], 'vramGuard.fallbackChain');
    assert.deepEqual(problems, []);
    const audit: string[] = [];
    const chain = new FallbackChain({
      steps: () => steps,
      mode: () => 'auto',
      executor: outsideExecutor(processes, { systemctl: { program: systemctl.program } }),
      readUsed: async () => 3 * GiB,
      confirm: async () => true,
      cooldownMs: 600_000,
      settleIntervalMs: 20,
      settleTimeoutMs: 200,
      log: (m) => audit.push(m),
    });
    const d = emptyDevice(0);
    d.memory = { total: 4 * GiB, used: 3.6 * GiB, free: 0.4 * GiB, reserved: 0 };
    const watched: WatchedSample = {
      sample: { source: 'nvml', timestamp: Date.now(), driverVersion: null, sourceVersion: null, devices: [d] },
      levels: ['critical'],
      thresholds: [null],
    };
    const reported: ServerCascade[] = [];
    // As the extension wires it: the registry's cascades go to the chain (and the history recorder).
    registry.on('cascade', (c) => {
      reported.push(c);
      chain.onCascade({ name: c.server, kind: c.kind, gpu: c.gpu }, watched);
    });
    const said: string[] = [];
    const journals = new UnitJournals({
      processes: async () => processes,
      report: (c) => registry.reportCascade(c),
      say: (m) => said.push(m),
      program: stand.program,
      maxLinesPerSecond: 1_000_000,
    });
    try {
      await journals.update([0], true);
      assert.deepEqual(journals.units(), ['speaches.service']);
      await pollUntil(() => reported.length === 1 || null, 'the cascade reported', 20_000);
      const c = reported[0]!;
      assert.deepEqual({ server: c.server, kind: c.kind, pid: c.pid, gpu: c.gpu }, { server: 'speaches.service', kind: 'faster-whisper', pid: 965, gpu: 0 });
      assert.match(cascadeEvent(c, null).text, /^speaches\.service \(PID 965\): cascade, \d+ CUDA error lines, \d+ a second$/);
      await pollUntil(async () => (await systemctl.calls()).length === 1 || null, 'systemctl called');
      await pollUntil(() => !chain.busy || null, 'the chain done');
      assert.deepEqual(await systemctl.calls(), [['--user', 'restart', '--', 'speaches.service']]);
      assert.ok(
        audit.some((l) => l.startsWith('fallback DONE') && l.includes('systemctl --user restart speaches.service')),
        audit.join('\n'),
      );

      // The process is gone from the GPU: its journalctl and the whole group with it.
      const pgid = journals.follower('speaches.service')?.pid ?? 0;
      assert.ok(pgid > 0 && groupAlive(pgid));
      processes = [];
      await journals.update([0], true);
      assert.deepEqual(journals.units(), []);
      assert.equal(await groupRunning(pgid), false, "journalctl's process group is gone once the update resolves");
      assert.deepEqual(said, []);
    } finally {
      chain.dispose();
      await journals.dispose();
    }
  });

  it('follows only user services of this user that VRAM Guard did not start, one follower per unit, all stopped on dispose', async () => {
    const stand = await journalctl({ mode: 'long' });
    const me = process.getuid?.() ?? 0;
    const processes = [
      recognised({ pid: 11, kind: 'llama-server', unit: { name: 'llm.service', scope: 'user' } }),
      recognised({ pid: 12, kind: 'llama-server', unit: { name: 'llm.service', scope: 'user' } }),
      recognised({ pid: 13, kind: 'ollama', unit: { name: 'ollama.service', scope: 'system' } }),
      recognised({ pid: 14, kind: 'python', unit: { name: 'app-gnome-code-4242.scope', scope: 'user' } }),
      recognised({ pid: 15, kind: 'whisper-cpp', unit: { name: 'whisper.service', scope: 'user' }, uid: me + 1 }),
      recognised({ pid: 16, kind: 'llama-server', unit: { name: 'task.service', scope: 'user' }, startedBy: 'task' }),
    ];
    const journals = new UnitJournals({ processes: async () => processes, report: () => {}, say: () => {}, program: stand.program });
    await journals.update([0], true);
    assert.deepEqual(journals.units(), ['llm.service']);
    const pgid = journals.follower('llm.service')?.pid ?? 0;
    await pollUntil(async () => (await stand.calls()).length === 1 || null, 'journalctl started');
    await journals.dispose();
    assert.equal(await groupRunning(pgid), false, 'dispose resolves once the group is gone');
    assert.deepEqual(await stand.calls(), [journalArgs('llm.service')]);
  });

  it('a process list that cannot be read is told once until it can, and nothing is followed meanwhile', async () => {
    const said: string[] = [];
    let fail = true;
    const journals = new UnitJournals({
      processes: async () => {
        if (fail) throw new Error('/proc is not mounted');
        return [];
      },
      report: () => {},
      say: (m) => said.push(m),
    });
    await journals.update([0], true);
    await journals.update([0], true);
    assert.deepEqual(said, ["the GPU's processes could not be read for their units' journals: /proc is not mounted"]);
    fail = false;
    await journals.update([0], true);
    fail = true;
    await journals.update([0], true);
    assert.equal(said.length, 2, 'told again after it had worked');
    assert.deepEqual(journals.units(), []);
    await journals.dispose();
  });
});
