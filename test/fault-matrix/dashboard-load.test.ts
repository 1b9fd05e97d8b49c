/**
 * Fault matrix: the dashboard page that never loads. On a busy machine the webview's service worker
 * can leave the page's script and stylesheet requests unanswered (ERR_ABORTED): the page stays on
 * "Loading…" and never posts "ready". The panel's load watch (what DashboardSession runs for every
 * shown page) opens it again in a fresh panel, and says so in the output channel. Fake clock: no waits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../helpers/fake-clock.ts';
import { PAGE_READY_TIMEOUT_MS, PageLoadWatch } from '../../src/vscode/dashboard/page-load-watch.ts';

/** A page that never says "ready", in panel after fresh panel; what the output channel got. */
async function neverReady(ms: number): Promise<{ panels: number; lines: string[] }> {
  const clock = new FakeClock();
  const lines: string[] = [];
  let panels = 0;
  const open = (reloadsSoFar: number): void => {
    panels++;
    const watch: PageLoadWatch = new PageLoadWatch({
      clock,
      reloadsSoFar,
      log: { info: (l) => lines.push(l), warn: (l) => lines.push(`warn: ${l}`) },
      reload: (attempt) => {
        watch.dispose();
        open(attempt);
      },
    });
    watch.shown();
  };
  open(0);
  await clock.advance(ms);
  return { panels, lines };
}

test('a dashboard page that never says "ready" (its script and stylesheet unanswered) → opened again in a fresh panel after 10 s, with a line in the output channel', async () => {
  const { panels, lines } = await neverReady(PAGE_READY_TIMEOUT_MS);
  assert.equal(panels, 2);
  assert.deepEqual(lines, ['dashboard: the page did not load in 10 s; opening it again in a fresh panel (1 of 2)']);
});

test('a dashboard page still silent after two fresh panels → one warning naming "Open Dashboard" and a window reload; no third reload', async () => {
  const { panels, lines } = await neverReady(100 * PAGE_READY_TIMEOUT_MS);
  assert.equal(panels, 3);
  assert.equal(lines.length, 3);
  assert.match(lines[2]!, /^warn: dashboard: the page did not load in 10 s after 2 fresh panels; .*"VRAM Guard: Open Dashboard", or reload the window$/);
});
