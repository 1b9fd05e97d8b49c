/** A server card's life lines: uptime against the target, restarts and the policy, the last exit with its last lines. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerCard } from '../../../src/protocol.ts';
import { serverCardView, serverLifeLines } from '../../../webview/panels-model.ts';

const NOW = new Date(2026, 11, 7, 18, 0, 0).getTime();
const card = (over: Partial<ServerCard>): ServerCard => ({
  name: 'speech',
  kind: 'faster-whisper',
  state: 'ready',
  pid: 4242,
  gpu: 0,
  health: 'healthy',
  models: [],
  context: null,
  sleeping: null,
  nvmlMiB: 3600,
  reportedMiB: null,
  error: null,
  ...over,
});

describe("a server card's uptime, restarts and last exit", () => {
  it('shows uptime against the target: short of it, then past it (field note 001 aimed at more than 8 h)', () => {
    const short = serverLifeLines(card({ readySince: NOW - 2 * 3_600_000, uptimeTargetHours: 8, restarts: 0, restartPolicy: null, lastExit: null }), NOW);
    assert.deepEqual(short, ['up 2 h since 16:00:00, 25% of the 8 h target']);
    const past = serverLifeLines(card({ readySince: NOW - (10 * 60 + 50) * 60_000, uptimeTargetHours: 8 }), NOW);
    assert.deepEqual(past, ['up 10 h 50 m since 07:10:00, past the 8 h target']);
  });

  it('shows restarts and the last exit, code or signal, with its last three lines', () => {
    const lines = serverLifeLines(
      card({
        state: 'exited',
        readySince: null,
        restarts: 3,
        restartPolicy: 'on-failure, at most 10 an hour',
        lastExit: { at: NOW - 60_000, code: 1, signal: null, lastLines: ['a', 'CUDA error: unspecified launch failure', 'b', 'Aborted'] },
      }),
      NOW,
    );
    assert.deepEqual(lines, [
      'restarts: 3 (restart on-failure, at most 10 an hour)',
      'last exit: code 1 at 17:59:00',
      '  CUDA error: unspecified launch failure',
      '  b',
      '  Aborted',
    ]);
    assert.deepEqual(serverCardView(card({ lastExit: { at: NOW, code: null, signal: 'SIGKILL', lastLines: [] } }), NOW).lines, [
      'no model loaded (as the server reports)',
      'last exit: signal SIGKILL at 18:00:00',
    ]);
  });

  it('a card from before these fields says nothing more', () => {
    assert.deepEqual(serverLifeLines(card({}), NOW), []);
  });
});
