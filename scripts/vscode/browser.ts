/**
 * A real browser for the VS Code web UI: Debian's Chromium driven by playwright-core.
 * Never a downloaded browser. Chromium runs in its own process group and is stopped by PID.
 */
import { existsSync } from 'node:fs';
import playwright from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { descendantsOf, raceDeadline } from './processes.ts';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export function chromiumPath(): string {
  const candidates = [process.env.VRAM_GUARD_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
    (p): p is string => typeof p === 'string' && p !== '',
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      'Chromium is not installed, and the UI and extension tests need a real browser. ' +
        'Install it with one command: `apt-get install -y chromium` (Debian; or: npm run setup, which runs it), or set VRAM_GUARD_CHROMIUM to a Chromium binary.',
    );
  }
  return found;
}

export interface RunningBrowser {
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  readonly pid: number;
  close(): Promise<void>;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

export async function launchBrowser(options: { viewport?: { width: number; height: number } } = {}): Promise<RunningBrowser> {
  const server = await playwright.chromium.launchServer({
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_FLAGS,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    timeout: 30_000,
  });
  const pid = server.process().pid;
  if (pid === undefined) {
    await server.kill();
    throw new Error('Chromium started without a process id');
  }
  let browser: Browser;
  try {
    browser = await playwright.chromium.connect(server.wsEndpoint(), { timeout: 30_000 });
  } catch (err) {
    await server.kill();
    throw err;
  }
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1400, height: 900 } });
  const page = await context.newPage();
  let closed = false;
  return {
    browser,
    context,
    page,
    pid,
    async close() {
      if (closed) return;
      closed = true;
      const pids = [pid, ...descendantsOf(pid)];
      await raceDeadline(
        browser.close().catch(() => {}),
        5000,
      );
      await raceDeadline(
        server.close().catch(() => {}),
        5000,
      );
      for (const p of pids) kill(p, 'SIGKILL');
      kill(-pid, 'SIGKILL');
    },
  };
}
