/**
 * Fault matrix: forged messages from the dashboard page. A compromised or buggy page can post
 * anything; the host's door (acceptWebviewMessage, what DashboardSession.receive calls) must refuse
 * every wrong shape with one log line and run nothing. One test per message type of src/protocol.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptWebviewMessage, MAX_RANGE_POINTS } from '../../src/protocol.ts';

/** Each forged message is refused: nothing is returned to act on, and the log says why. */
function refused(forged: Array<[unknown, RegExp]>): void {
  for (const [message, why] of forged) {
    const log: string[] = [];
    assert.equal(
      acceptWebviewMessage(message, (l) => log.push(l)),
      null,
      `accepted ${JSON.stringify(message)?.slice(0, 120)}`,
    );
    assert.equal(log.length, 1);
    assert.match(log[0]!, /^dashboard: refused a message from the page: /);
    assert.match(log[0]!, why, JSON.stringify(message)?.slice(0, 120));
    assert.ok(log[0]!.length < 300, 'the log line quotes the whole forged message');
  }
}

test('message that is not an object, or names an unknown type → refused with one log line, nothing run', () => {
  refused([
    [null, /not a message object/],
    [undefined, /not a message object/],
    ['ready', /not a message object/],
    [[{ type: 'ready' }], /not a message object/],
    [{ type: 42 }, /not a message object/],
    [{ command: 'vramGuard.exportHistory' }, /not a message object/],
    [{ type: 'executeCommand', command: 'workbench.action.terminal.new' }, /unknown message type "executeCommand"/],
    [{ type: 'x'.repeat(1_000_000) }, /unknown message type "x{30,}/],
    [{ type: '__proto__' }, /unknown message type/],
  ]);
});

test('"ready" with a wrong range or extra fields → refused', () => {
  refused([
    [{ type: 'ready', range: '7d' }, /ready: range must be one of 5m, 1h, 24h, all/],
    [{ type: 'ready', range: 5 }, /ready: range must be/],
    [{ type: 'ready', range: '1h', html: '<script>' }, /ready: range must be/],
  ]);
});

test('"range" with a wrong id, times or point count → refused', () => {
  refused([
    [{ type: 'range', id: -1, from: 0, to: 1, maxPoints: 100 }, /range: needs an id and a time range/],
    [{ type: 'range', id: 1, from: 'yesterday', to: 1, maxPoints: 100 }, /needs an id and a time range/],
    [{ type: 'range', id: 1, from: 0, to: Infinity, maxPoints: 100 }, /needs an id and a time range/],
    [{ type: 'range', id: 1, from: NaN, to: 5, maxPoints: 100 }, /needs an id and a time range/],
    [{ type: 'range', id: 1, from: 10, to: 5, maxPoints: 100 }, /needs an id and a time range/],
    [{ type: 'range', id: 1, from: 0, to: 5, maxPoints: MAX_RANGE_POINTS + 1 }, /maxPoints must be 2 to 20000/],
    [{ type: 'range', id: 1, from: 0, to: 5, maxPoints: 1e9 }, /maxPoints must be 2 to 20000/],
    [{ type: 'range', id: 1, from: 0, to: 5 }, /maxPoints must be/],
  ]);
});

test('"runStep" with a wrong step or GPU, or a process to kill → refused', () => {
  refused([
    [{ type: 'runStep', step: -1, gpu: 0 }, /runStep: needs a step index and a GPU index/],
    [{ type: 'runStep', step: 0.5, gpu: 0 }, /needs a step index/],
    [{ type: 'runStep', step: '0', gpu: 0 }, /needs a step index/],
    [{ type: 'runStep', step: 0 }, /needs a step index and a GPU index/],
    [{ type: 'runStep', step: 0, gpu: 1e12 }, /needs a step index and a GPU index/],
    [{ type: 'runStep', step: 0, gpu: 0, pid: 1 }, /needs a step index/],
    [{ type: 'runStep', step: 0, gpu: 0, command: ['rm', '-rf', '/'] }, /needs a step index/],
  ]);
});

test('"setAuto" with anything but true or false → refused', () => {
  refused([
    [{ type: 'setAuto', enabled: 'yes' }, /setAuto: needs "enabled": true or false/],
    [{ type: 'setAuto', enabled: 1 }, /true or false/],
    [{ type: 'setAuto' }, /true or false/],
    [{ type: 'setAuto', enabled: true, mode: 'auto' }, /true or false/],
  ]);
});

test('"export" with another format or a path → refused', () => {
  refused([
    [{ type: 'export', format: 'xlsx' }, /export: format must be "csv" or "jsonl"/],
    [{ type: 'export' }, /format must be/],
    [{ type: 'export', format: 'csv', path: '/etc/passwd' }, /format must be/],
  ]);
});

test('"dryRun", "preflight", "budgetSpike", "import" or "showLive" with arguments → refused', () => {
  refused([
    [{ type: 'dryRun', steps: [0, 1] }, /dryRun: takes no arguments/],
    [{ type: 'preflight', command: 'rm -rf /' }, /preflight: takes no arguments/],
    [{ type: 'budgetSpike', servers: ['evil'] }, /budgetSpike: takes no arguments/],
    [{ type: 'import', uri: 'file:///etc/shadow' }, /import: takes no arguments/],
    [{ type: 'showLive', title: '<img src=x onerror=alert(1)>' }, /showLive: takes no arguments/],
  ]);
});
