/**
 * The dashboard page that never says "ready" (its script and stylesheet requests left unanswered by
 * the webview's service worker on a busy machine) is opened again in a fresh panel, at most twice
 * in a row, with a line in the output channel each time; a page that loads is left alone. The
 * clock is a fake one: no test waits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../../helpers/fake-clock.ts';
import { MAX_PAGE_RELOADS, PAGE_READY_TIMEOUT_MS, PageLoadWatch } from '../../../../src/vscode/dashboard/page-load-watch.ts';

/** One dashboard as the panel module runs it: each reload is a fresh panel with a fresh watch carrying the count. */
function dashboard(clock: FakeClock) {
  const lines: string[] = [];
  const panels: PageLoadWatch[] = [];
  const log = { info: (l: string) => lines.push(`info ${l}`), warn: (l: string) => lines.push(`warn ${l}`) };
  const open = (reloadsSoFar: number): PageLoadWatch => {
    const watch: PageLoadWatch = new PageLoadWatch({
      clock,
      log,
      reloadsSoFar,
      reload: (attempt) => {
        watch.dispose(); // the stalled panel closes
        open(attempt).shown(); // the fresh one is visible at once
      },
    });
    panels.push(watch);
    return watch;
  };
  return { lines, panels, first: open(0) };
}

describe('dashboard page load watch', () => {
  it('leaves a page that says "ready" in time alone: no reload, no line, no timer left', async () => {
    const clock = new FakeClock();
    const d = dashboard(clock);
    d.first.shown();
    await clock.advance(PAGE_READY_TIMEOUT_MS - 1);
    d.first.sawReady();
    await clock.advance(10 * PAGE_READY_TIMEOUT_MS);
    assert.equal(d.panels.length, 1);
    assert.deepEqual(d.lines, []);
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it('opens a page that stays silent again in a fresh panel, and stops there once the fresh one loads', async () => {
    const clock = new FakeClock();
    const d = dashboard(clock);
    d.first.shown();
    await clock.advance(PAGE_READY_TIMEOUT_MS);
    assert.equal(d.panels.length, 2, 'a fresh panel after the timeout');
    assert.equal(d.lines.length, 1);
    assert.match(d.lines[0]!, /^info dashboard: the page did not load in 10 s; opening it again in a fresh panel \(1 of 2\)$/);
    d.panels[1]!.sawReady();
    await clock.advance(10 * PAGE_READY_TIMEOUT_MS);
    assert.equal(d.panels.length, 2);
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it(`reloads at most ${MAX_PAGE_RELOADS} times in a row, then says once how to get the dashboard back`, async () => {
    const clock = new FakeClock();
    const d = dashboard(clock);
    d.first.shown();
    await clock.advance(20 * PAGE_READY_TIMEOUT_MS);
    assert.equal(d.panels.length, 1 + MAX_PAGE_RELOADS);
    assert.equal(d.lines.length, 3);
    assert.match(d.lines[0]!, /^info .*fresh panel \(1 of 2\)$/);
    assert.match(d.lines[1]!, /^info .*fresh panel \(2 of 2\)$/);
    assert.match(d.lines[2]!, /^warn dashboard: the page did not load in 10 s after 2 fresh panels; .*Open Dashboard/);
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it('does not count time while the panel is hidden: a hidden page is not loading', async () => {
    const clock = new FakeClock();
    const d = dashboard(clock);
    d.first.shown();
    await clock.advance(PAGE_READY_TIMEOUT_MS / 2);
    d.first.hidden();
    await clock.advance(10 * PAGE_READY_TIMEOUT_MS);
    assert.equal(d.panels.length, 1);
    d.first.shown(); // shown again: it loads again, with the whole time to do it
    await clock.advance(PAGE_READY_TIMEOUT_MS - 1);
    assert.equal(d.panels.length, 1);
    await clock.advance(1);
    assert.equal(d.panels.length, 2);
  });

  it('watches the load after a hide again, with a fresh count once the page had loaded', async () => {
    const clock = new FakeClock();
    const d = dashboard(clock);
    d.first.shown();
    await clock.advance(PAGE_READY_TIMEOUT_MS); // one reload
    const second = d.panels[1]!;
    second.sawReady();
    second.hidden();
    second.shown(); // unloaded when hidden, so it must say "ready" again
    await clock.advance(PAGE_READY_TIMEOUT_MS);
    assert.equal(d.panels.length, 3);
    assert.match(d.lines.at(-1)!, /\(1 of 2\)$/, 'the count starts again after a page that loaded');
  });

  it('a shown page that is shown again (moved, focused) keeps its first deadline', async () => {
    const clock = new FakeClock();
    const d = dashboard(clock);
    d.first.shown();
    await clock.advance(PAGE_READY_TIMEOUT_MS - 1);
    d.first.shown();
    await clock.advance(1);
    assert.equal(d.panels.length, 2);
  });

  it('a disposed panel never reloads', async () => {
    const clock = new FakeClock();
    const d = dashboard(clock);
    d.first.shown();
    d.first.dispose();
    d.first.shown();
    await clock.advance(10 * PAGE_READY_TIMEOUT_MS);
    assert.equal(d.panels.length, 1);
    assert.deepEqual(d.lines, []);
  });
});
