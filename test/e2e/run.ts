/**
 * UI tests in a real browser: the VS Code server bundled in code-server, the extension under
 * development, the fake NVML library, and Debian's Chromium driven by playwright-core.
 *
 *   node test/e2e/run.ts
 *
 * Screenshots go to test-results/e2e/. Every process is stopped by PID, also on failure and Ctrl-C.
 * Last line of output: "N passed, N failed[, N skipped]".
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import type { PageGlobals } from '../../scripts/vscode/page-dom.ts';
import { testResults } from '../../scripts/vscode/paths.ts';
import { stopEverythingOnExit } from '../../scripts/vscode/processes.ts';
import { StartedWorkbench } from '../../scripts/vscode/workbench.ts';
import { buildFakeNvml, FakeNvmlState } from '../helpers/fake-nvml.ts';
import { buildExtension, readNotifications, summaryLine, testUrl, type Totals } from '../integration/run.ts';
import { fakeGpu } from '../integration/suite/scenarios.ts';
import { runSteps, type Step } from './steps.ts';

export const screenshotDir = join(testResults, 'e2e');
const STATUS_ITEM_ID = 'vram-guard.vram-guard.vramGuard.status';

const workbench = new StartedWorkbench();
const stopAllStarted = workbench.stop;

/** The VRAM Guard status bar item (VS Code gives extension items the id "<extension id>.<item id>"). */
function statusItem(page: Page): Locator {
  return page.locator(`[id="${STATUS_ITEM_ID}"]`);
}

async function statusText(page: Page): Promise<string> {
  return ((await statusItem(page).textContent({ timeout: 5000 })) ?? '').trim();
}

async function statusLook(page: Page): Promise<{ text: string; classes: string; background: string }> {
  const item = statusItem(page);
  return await item.evaluate((el) => ({
    text: (el.textContent ?? '').trim(),
    classes: el.className,
    background: (globalThis as unknown as PageGlobals).getComputedStyle(el).backgroundColor,
  }));
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} (waited ${timeoutMs / 1000} s)`);
}

async function shoot(page: Page, name: string, locator?: Locator): Promise<string> {
  const file = join(screenshotDir, `${name}.png`);
  if (locator) await locator.screenshot({ path: file, timeout: 10_000 });
  else await page.screenshot({ path: file, timeout: 10_000 });
  return file;
}

export async function runE2e(): Promise<Totals> {
  const t0 = Date.now();
  await buildExtension();
  const fakeLibrary = await buildFakeNvml('current');
  const fake = await FakeNvmlState.create(fakeGpu(5.3));
  const stateDir = await mkdtemp(join(tmpdir(), 'vram-guard-e2e-'));
  const workspace = join(stateDir, 'workspace');
  await mkdir(workspace, { recursive: true });
  await writeFile(join(workspace, 'README.md'), '# VRAM Guard UI test workspace\n');
  await mkdir(join(stateDir, 'user-data', 'Machine'), { recursive: true });
  await writeFile(
    join(stateDir, 'user-data', 'Machine', 'settings.json'),
    JSON.stringify(
      {
        'vramGuard.source': 'nvml',
        'vramGuard.nvmlLibraryPath': fakeLibrary,
        'vramGuard.sampleIntervalMs': 500,
      },
      null,
      2,
    ),
  );
  await rm(screenshotDir, { recursive: true, force: true });
  await mkdir(screenshotDir, { recursive: true });

  const totals: Totals = { passed: 0, failed: 0, skipped: 0 };
  let page!: Page;
  let okLook: { text: string; classes: string; background: string } | null = null;

  const steps: Step[] = [
    {
      name: 'the workbench opens in Chromium',
      run: async () => {
        const server = await workbench.startServer({ mode: 'smoke', stateDir, env: { FAKE_NVML_STATE: fake.path, VRAM_GUARD_NVML_LIBRARY: undefined } });
        const browser = await workbench.launchBrowser();
        page = browser.page;
        await page.goto(testUrl(server, workspace, null), { timeout: 60_000 });
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      },
    },
    {
      name: 'the status bar item shows 5.3/8.0 GiB from the fake NVML',
      run: async () => {
        await waitFor(`the status bar item #${STATUS_ITEM_ID} did not show 5.3/8.0 GiB`, 45_000, async () => (await statusText(page)).includes('5.3/8.0 GiB'));
        okLook = await statusLook(page);
        await shoot(page, 'statusbar-ok', page.locator('[id="workbench.parts.statusbar"]'));
      },
    },
    {
      name: 'the tooltip shows the GPU and its source',
      run: async () => {
        await statusItem(page).hover();
        const hover = page.locator('.workbench-hover, .monaco-hover').filter({ hasText: 'RTX 3070' }).first();
        await hover.waitFor({ state: 'visible', timeout: 15_000 });
        const text = (await hover.textContent()) ?? '';
        if (!/NVML/.test(text)) throw new Error(`the tooltip does not name the source: ${text.slice(0, 300)}`);
        await shoot(page, 'statusbar-tooltip');
        await page.mouse.move(10, 10);
        await page.keyboard.press('Escape');
      },
    },
    {
      name: 'past CRITICAL the text and the background change (warning background)',
      run: async () => {
        await fake.write(fakeGpu(7.4)); // 92.5 %
        await waitFor('the status bar did not show 7.4/8.0 GiB', 10_000, async () => (await statusText(page)).includes('7.4/8.0 GiB'));
        await waitFor('the status bar item did not take the warning background', 5000, async () => (await statusLook(page)).classes.includes('warning-kind'));
        const look = await statusLook(page);
        if (okLook && look.background === okLook.background) throw new Error(`the background stayed ${look.background} at CRITICAL`);
        await shoot(page, 'statusbar-critical', page.locator('[id="workbench.parts.statusbar"]'));
      },
    },
    {
      name: 'at EMERGENCY the background turns to the error colour',
      run: async () => {
        await fake.write(fakeGpu(7.8)); // 97.5 %
        await waitFor('the status bar did not show 7.8/8.0 GiB with the error background', 10_000, async () => {
          const look = await statusLook(page);
          return look.text.includes('7.8/8.0 GiB') && look.classes.includes('error-kind');
        });
        await shoot(page, 'statusbar-emergency', page.locator('[id="workbench.parts.statusbar"]'));
      },
    },
    {
      name: 'a level notification names the GPU and the level',
      run: async () => {
        const shown = await readNotifications(page);
        // One sentence with the figure: "GPU 0 is at EMERGENCY: 7.8 GiB of 8.0 GiB used (98%) — …".
        const level = shown.find((n) => /GPU 0 is at (EMERGENCY|CRITICAL): \d+\.\d GiB of 8\.0 GiB used/.test(n.text));
        if (!level) throw new Error(`no level notification; shown: ${JSON.stringify(shown)}`);
        if (level.text.length >= 160) throw new Error(`the level notification is ${level.text.length} characters: ${level.text}`);
        await shoot(page, 'notifications');
        await page.keyboard.press('Escape');
      },
    },
    {
      name: 'the details command runs from the command palette',
      run: async () => {
        await page
          .locator('.monaco-workbench')
          .click({ position: { x: 600, y: 300 } })
          .catch(() => {});
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill('>VRAM Guard: Show GPU Details');
        const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: 'Show GPU Details' }).first();
        await row.waitFor({ state: 'visible', timeout: 10_000 });
        await page.keyboard.press('Enter');
        const tab = page
          .locator('.tabs-container .tab')
          .filter({ hasText: /GPU details/i })
          .first();
        await tab.waitFor({ state: 'visible', timeout: 20_000 });
        const preview = page.frameLocator('iframe.webview').first().frameLocator('#active-frame');
        await preview.locator('body').filter({ hasText: 'RTX 3070' }).waitFor({ timeout: 20_000 });
        await shoot(page, 'details');
      },
    },
  ];

  await runSteps(steps, totals, {
    // Without a workbench nothing else can be checked; any other failure leaves the page usable.
    stopsTheRest: (_step, index) => index === 0,
    onFailure: async () => {
      if (page) console.log(`       screenshot: ${await shoot(page, 'failure')}`);
    },
  });
  await stopAllStarted();
  if (totals.failed === 0 && process.env.VRAM_GUARD_KEEP_STATE !== '1') {
    await rm(stateDir, { recursive: true, force: true });
    await rm(join(fake.path, '..'), { recursive: true, force: true });
  } else {
    console.log(`  state kept in ${stateDir}`);
  }
  console.log(`  screenshots: ${screenshotDir}`);
  console.log(`\nbrowser tests took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return totals;
}

if (import.meta.main) {
  stopEverythingOnExit(stopAllStarted);
  let totals: Totals;
  console.log('# browser: VRAM Guard in VS Code in Chromium');
  try {
    totals = await runE2e();
  } catch (err) {
    console.log(`browser tests could not run: ${(err as Error).message}`);
    totals = { passed: 0, failed: 1, skipped: 0 };
  }
  await stopAllStarted();
  console.log(summaryLine(totals));
  process.exitCode = totals.failed > 0 ? 1 : 0;
}
