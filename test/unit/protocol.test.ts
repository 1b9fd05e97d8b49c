/** The dashboard's protocol and page: every message from the page is checked; the page's HTML has a strict CSP. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_RANGE_POINTS, parseWebviewMessage } from '../../src/protocol.ts';
import { contentSecurityPolicy, dashboardHtml, makeNonce } from '../../src/vscode/dashboard/dashboard-html.ts';

describe('dashboard protocol: messages from the page', () => {
  it('accepts the known commands and requests with valid arguments', () => {
    const ok = [
      { type: 'ready', range: '24h' },
      { type: 'ready' },
      { type: 'runStep', step: 1, gpu: 0 },
      { type: 'dryRun' },
      { type: 'setAuto', enabled: true },
      { type: 'preflight' },
      { type: 'budgetSpike' },
      { type: 'export', format: 'csv' },
      { type: 'export', format: 'jsonl' },
      { type: 'import' },
      { type: 'showLive' },
      { type: 'range', id: 3, from: 0, to: 1000, maxPoints: 2000 },
    ];
    for (const m of ok) assert.equal(parseWebviewMessage(m).ok, true, JSON.stringify(m));
    assert.deepEqual(parseWebviewMessage({ type: 'ready' }), { ok: true, message: { type: 'ready', range: '1h' } });
  });

  it('refuses unknown commands, arbitrary command names and processes, and malformed arguments', () => {
    const bad: Array<[unknown, RegExp]> = [
      [null, /not a message/],
      ['runStep', /not a message/],
      [{ type: 'executeCommand', command: 'workbench.action.terminal.new' }, /unknown message type/],
      [{ type: 'runCommand', command: 'vramGuard.preflightCheck' }, /unknown message type/],
      [{ type: 'preflight', command: 'rm -rf /' }, /takes no arguments/],
      [{ type: 'runStep', step: -1, gpu: 0 }, /step index/],
      [{ type: 'runStep', step: 1.5, gpu: 0 }, /step index/],
      [{ type: 'runStep', step: '0', gpu: 0 }, /step index/],
      [{ type: 'runStep', step: 0 }, /GPU index/],
      [{ type: 'runStep', step: 0, gpu: 0, pid: 4242 }, /step index/],
      [{ type: 'setAuto', enabled: 'yes' }, /true or false/],
      [{ type: 'export', format: 'xlsx' }, /csv/],
      [{ type: 'export', format: 'csv', path: '/etc/passwd' }, /csv/],
      [{ type: 'range', id: 1, from: 10, to: 5, maxPoints: 100 }, /time range/],
      [{ type: 'range', id: 1, from: 0, to: 5, maxPoints: MAX_RANGE_POINTS + 1 }, /maxPoints/],
      [{ type: 'ready', range: '7d' }, /range must be/],
    ];
    for (const [m, pattern] of bad) {
      const r = parseWebviewMessage(m);
      assert.equal(r.ok, false, JSON.stringify(m));
      assert.match(!r.ok ? r.error : '', pattern, JSON.stringify(m));
    }
  });
});

describe('dashboard page HTML', () => {
  it('has a strict CSP: nothing by default, the script only by nonce, no inline styles', () => {
    const nonce = makeNonce();
    assert.match(nonce, /^[A-Za-z0-9+/]{22}==$/);
    assert.notEqual(nonce, makeNonce());
    const csp = contentSecurityPolicy('https://x.vscode-cdn.net', nonce);
    assert.match(csp, /^default-src 'none'/);
    assert.match(csp, new RegExp(`script-src 'nonce-${nonce.replace(/[+/]/g, '\\$&')}'`));
    assert.match(csp, /style-src https:\/\/x\.vscode-cdn\.net(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    const html = dashboardHtml({
      cspSource: 'https://x.vscode-cdn.net',
      nonce,
      scriptUri: 'https://x.vscode-cdn.net/dist/webview/dashboard.js',
      styleUri: 'https://x.vscode-cdn.net/dist/webview/dashboard.css',
    });
    assert.equal((html.match(/<script/g) ?? []).length, 1);
    assert.match(
      html,
      new RegExp(`<script nonce="${nonce.replace(/[+/]/g, '\\$&')}" src="https://x\\.vscode-cdn\\.net/dist/webview/dashboard\\.js"></script>`),
    );
    assert.doesNotMatch(html, /<style|\sstyle="|\son\w+="/);
  });
});
