/**
 * The dashboard page outside VS Code, for the benchmark and quick looks: Chromium loads the built
 * bundle (dist/webview) into a blank page with VS Code's theme variables set, a stand-in for
 * `acquireVsCodeApi` records what the page posts, and the host's messages are delivered as
 * `message` events, as a webview receives them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { HostMessage } from '../../src/protocol.ts';
import { repoRoot } from './fake-nvml.ts';

/** A few of VS Code's Dark Modern theme variables (enough for the page to look as it does in VS Code). */
export const DARK_THEME: Record<string, string> = {
  '--vscode-foreground': '#cccccc',
  '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-editor-background': '#1f1f1f',
  '--vscode-sideBar-background': '#181818',
  '--vscode-widget-border': '#313131',
  '--vscode-panel-border': '#2b2b2b',
  '--vscode-editorWidget-border': '#454545',
  '--vscode-charts-blue': '#3794ff',
  '--vscode-charts-purple': '#b180d7',
  '--vscode-charts-orange': '#d18616',
  '--vscode-charts-yellow': '#cca700',
  '--vscode-charts-red': '#f14c4c',
  '--vscode-charts-green': '#89d185',
  '--vscode-badge-background': '#616161',
  '--vscode-badge-foreground': '#f8f8f8',
  '--vscode-font-family': 'system-ui, sans-serif',
  '--vscode-font-size': '13px',
};

export interface HarnessPage {
  page: Page;
  /** What the page posted to the host, in order. */
  posted(): Promise<unknown[]>;
  deliver(message: HostMessage): Promise<void>;
}

/** Loads the dashboard bundle into `page` and waits for its "ready". */
export async function loadDashboardPage(page: Page, theme: Record<string, string> = DARK_THEME): Promise<HarnessPage> {
  const vars = Object.entries(theme)
    .map(([k, v]) => `${k}: ${v};`)
    .join(' ');
  await page.setContent(`<!DOCTYPE html><html><head><style>body { ${vars} }</style></head><body class="vscode-dark"><main id="app"></main></body></html>`);
  await page.addStyleTag({ content: await readFile(join(repoRoot, 'dist', 'webview', 'dashboard.css'), 'utf8') });
  await page.evaluate(() => {
    const g = globalThis as unknown as { __posted: unknown[]; acquireVsCodeApi: () => unknown };
    g.__posted = [];
    let state: unknown;
    g.acquireVsCodeApi = () => ({
      postMessage: (m: unknown) => g.__posted.push(m),
      getState: () => state,
      setState: (s: unknown) => {
        state = s;
      },
    });
  });
  await page.addScriptTag({ content: await readFile(join(repoRoot, 'dist', 'webview', 'dashboard.js'), 'utf8') });
  const posted = () => page.evaluate(() => (globalThis as unknown as { __posted: unknown[] }).__posted.slice());
  const deadline = Date.now() + 10_000;
  while (!(await posted()).some((m) => (m as { type?: string }).type === 'ready')) {
    if (Date.now() > deadline) throw new Error('the dashboard page never said "ready"');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    page,
    posted,
    deliver: async (message) => {
      await page.evaluate(
        (m) =>
          void (globalThis as unknown as { dispatchEvent(e: unknown): void; MessageEvent: new (t: string, i: unknown) => unknown }).dispatchEvent(
            new (globalThis as unknown as { MessageEvent: new (t: string, i: unknown) => unknown }).MessageEvent('message', { data: m }),
          ),
        message,
      );
    },
  };
}
