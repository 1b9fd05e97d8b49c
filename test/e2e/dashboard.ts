/**
 * The dashboard in a real VS Code in a real browser: it opens from the command palette, its chart
 * draws the fake GPU's samples, a level change appears as a marker while it is open, its process table
 * names the GPU processes VRAM Guard did not start (real stand-ins under real server names), "Run this step
 * now" on an emulated Ollama (a vram-guard task) unloads its model and the chart shows the drop,
 * screenshots are taken in the dark and the light theme, and once a user setting points it at a real
 * Prometheus (scraping two VRAM Guard exporters and a dcgm-exporter) the Fleet section shows the
 * three hosts, and a stopped exporter's host turns stale.
 *
 *   node test/e2e/dashboard.ts
 *
 * Screenshots go to test-results/e2e/dashboard-*.png. Last line: "N passed, N failed[, N skipped]".
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { buildWebview } from '../../scripts/build-webview.ts';
import { repoRoot, testResults } from '../../scripts/vscode/paths.ts';
import { stopEverythingOnExit } from '../../scripts/vscode/processes.ts';
import { StartedWorkbench } from '../../scripts/vscode/workbench.ts';
import { buildFakeNvml, FakeNvmlState } from '../helpers/fake-nvml.ts';
import { emulatorCommand, freePort } from '../helpers/servers.ts';
import { buildExtension, summaryLine, testUrl, type Totals } from '../integration/run.ts';
import { fakeGpu } from '../integration/suite/scenarios.ts';
import { encodeEvent, encodeSample } from '../../src/core/history/lines.ts';
import { runSteps, type Step } from './steps.ts';
import { seriousViolations } from './axe.ts';
import { startFleet, type FleetHarness } from '../helpers/prometheus-harness.ts';
import { DGX_A100, GPU_DESK, GPU_LAB } from '../helpers/fleet-machines.ts';
import { MiB } from '../../src/core/units.ts';
import { LLAMA_32_3B, writeGguf } from '../helpers/gguf-fixtures.ts';
import { type OutsideServers, startOutsideServers } from './outside-processes.ts';

const screenshotDir = join(testResults, 'e2e');
const TASK = 'ollama (emulated)';
const MODEL = 'llama3.2:3b';
const BIG_TASK = 'llama 3B, 128k context';

const workbench = new StartedWorkbench();
let fleet: FleetHarness | null = null;
let outside: OutsideServers | null = null;

async function stopAllStarted(): Promise<void> {
  await fleet?.stop();
  fleet = null;
  await outside?.stop();
  outside = null;
  await workbench.stop();
}

function assert(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} (waited ${timeoutMs / 1000} s)${last ? `; last error: ${String(last).slice(0, 300)}` : ''}`);
}

/** Runs a command from the palette by its title. */
async function palette(page: Page, title: string, pick?: string, timeoutMs = 10_000): Promise<void> {
  await page.keyboard.press('Escape').catch(() => {});
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  // On a loaded machine a key pressed while a webview (a preview, the dashboard) has the focus can be lost: press it once more.
  await input.waitFor({ state: 'visible', timeout: 10_000 }).catch(async () => {
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
  });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await row.click();
  if (pick) {
    const choice = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: pick }).first();
    await choice.waitFor({ state: 'visible', timeout: 15_000 });
    await choice.click();
  }
}

/** Closes the side bars and the panel, so the dashboard has the window (for the screenshots). */
async function roomy(page: Page): Promise<void> {
  // The titles differ between VS Code versions ("Close" or "Hide"); whichever exists runs.
  for (const titles of [
    ['View: Close Primary Side Bar', 'View: Hide Primary Side Bar'],
    ['View: Close Secondary Side Bar', 'View: Hide Secondary Side Bar'],
    ['View: Close Panel', 'View: Hide Panel'],
  ]) {
    for (const title of titles) {
      const ran = await palette(page, title, undefined, 2000).then(
        () => true,
        () => false,
      );
      if (ran) break;
      await page.keyboard.press('Escape');
    }
  }
}

/** Closes the editor tab whose title matches (with its close button), so the focus returns to the dashboard. */
async function closeTab(page: Page, title: RegExp): Promise<void> {
  const tab = page.locator('.tabs-container .tab').filter({ hasText: title }).first();
  await tab.click();
  await tab.locator('.tab-actions .action-label').first().click({ timeout: 5000 });
  await tab.waitFor({ state: 'detached', timeout: 5000 });
}

/** Picks a colour theme from the palette and waits for the workbench to wear it. */
async function colorTheme(page: Page, name: string, workbenchSelector: string): Promise<void> {
  await palette(page, 'Preferences: Color Theme');
  await page.locator('.quick-input-widget input').fill(name);
  await page.locator('.quick-input-list .monaco-list-row').filter({ hasText: name }).first().click();
  await waitFor(`the workbench did not switch to ${name}`, 10_000, async () => (await page.locator(workbenchSelector).count()) > 0);
}

/** The dashboard's frame: the webview iframe (nested twice) whose page has the dashboard's root. */
async function dashboardFrame(page: Page): Promise<Frame> {
  return waitFor('the dashboard page did not load in a webview', 30_000, async () => {
    for (const frame of page.frames()) {
      if (
        await frame
          .locator('#app[data-ready="1"]')
          .count()
          .catch(() => 0)
      )
        return frame;
    }
    return null;
  });
}

/** Clicks a range button until the page shows it pressed (a click while the header redraws can be lost). */
async function pickRange(frame: Frame, range: string): Promise<void> {
  const button = frame.locator(`vscode-button[data-range="${range}"]`);
  await waitFor(`the range ${range} was not selected`, 10_000, async () => {
    if ((await button.getAttribute('aria-pressed')) === 'true') return true;
    await button.click();
    await new Promise((r) => setTimeout(r, 300));
    return (await button.getAttribute('aria-pressed')) === 'true';
  });
}

async function chartFacts(frame: Frame, gpu = 0): Promise<{ points: number; lastMib: number; canvas: boolean }> {
  const box = frame.locator(`.chart[data-gpu="${gpu}"]`);
  return {
    points: Number((await box.getAttribute('data-points')) ?? 0),
    lastMib: Number((await box.getAttribute('data-last-mib')) ?? NaN),
    canvas: (await box.locator('canvas').count()) > 0,
  };
}

/** A screenshot of the whole window, or of the editor area only (`editor`: what the README shows). */
async function shoot(page: Page, name: string, editor = false): Promise<string> {
  const file = join(screenshotDir, `${name}.png`);
  if (editor) await page.locator('[id="workbench.parts.editor"]').screenshot({ path: file, timeout: 10_000 });
  else await page.screenshot({ path: file, timeout: 10_000 });
  return file;
}

/**
 * A recorded past for the fake 8 GiB GPU: steady with a server, a second model pushing it to
 * CRITICAL, the fallback chain unloading it, and RAM and swap beside it. One line per second.
 */
function seededHistory(start: number, end: number): { start: number; lines: string[] } {
  const total = 8 * 1024 * MiB;
  const loadAt = start + 60 * 60_000;
  const peakAt = start + 100 * 60_000;
  const unloadAt = start + 112 * 60_000;
  const lines: string[] = [];
  const ev = (
    t: number,
    kind: 'transition' | 'fallback' | 'task',
    text: string,
    level: 'ok' | 'warning' | 'critical' | null,
    before: number | null,
    after: number | null,
  ) =>
    lines.push(
      encodeEvent({
        t,
        kind,
        gpu: kind === 'task' ? 0 : 0,
        text,
        level,
        usedBefore: before === null ? null : before * MiB,
        usedAfter: after === null ? null : after * MiB,
      }),
    );
  for (let t = start; t <= end; t += 1000) {
    const m = (t - start) / 60_000;
    let used = 4400 + 30 * Math.sin(m / 3);
    if (t >= loadAt && t < unloadAt) used = 6700 + Math.min(1, (t - loadAt) / 20_000) * 0 + (t >= peakAt ? 700 : 0) + 25 * Math.sin(m);
    const swap = t >= peakAt && t < unloadAt + 300_000 ? 900 : 0;
    lines.push(
      encodeSample({
        t,
        gpus: [{ gpu: 0, used: Math.round(used * MiB), total }],
        system: {
          ramUsed: Math.round((t >= peakAt && t < unloadAt ? 11_800 : 6200) * MiB),
          ramTotal: 16 * 1024 * MiB,
          swapUsed: swap * MiB,
          swapTotal: 8 * 1024 * MiB,
        },
      }),
    );
    if (t === start + 600_000) ev(t, 'task', 'whisper (large-v3): ready', null, null, null);
    if (t === loadAt) ev(t, 'transition', 'GPU 0: OK → WARNING at 6700 MiB of 8192 MiB', 'warning', 6700, null);
    if (t === peakAt) ev(t, 'transition', 'GPU 0: WARNING → CRITICAL at 7400 MiB of 8192 MiB', 'critical', 7400, null);
    if (t === unloadAt)
      ev(
        t,
        'fallback',
        'fallback DONE · GPU 0 CRITICAL · step 1 unloadModel ollama (triggered, auto mode) on ollama: unload llama3.2:3b from "ollama" (keep_alive 0): unloaded llama3.2:3b',
        'critical',
        7400,
        4400,
      );
    if (t === unloadAt + 2000) ev(t, 'transition', 'GPU 0: CRITICAL → OK at 4400 MiB of 8192 MiB', 'ok', 4400, null);
  }
  return { start, lines };
}

export async function runDashboardE2e(): Promise<Totals> {
  const t0 = Date.now();
  await buildExtension();
  await buildWebview();
  const fakeLibrary = await buildFakeNvml('current');
  const fake = await FakeNvmlState.create(fakeGpu(5.0));
  const stateDir = await mkdtemp(join(tmpdir(), 'vram-guard-e2e-dashboard-'));
  const workspace = join(stateDir, 'workspace');
  const port = await freePort();
  await mkdir(join(workspace, '.vscode'), { recursive: true });
  await writeFile(join(workspace, 'README.md'), '# VRAM Guard dashboard test workspace\n');
  await writeFile(
    join(workspace, '.vscode', 'tasks.json'),
    JSON.stringify(
      {
        version: '2.0.0',
        tasks: [
          {
            label: TASK,
            type: 'vram-guard',
            server: 'ollama',
            command: emulatorCommand('ollama'),
            args: ['--port', String(port)],
            port,
            needs: '2GiB',
            startTimeoutSeconds: 20,
            env: { FAKE_NVML_STATE: fake.path },
            problemMatcher: [],
          },
        ],
      },
      null,
      2,
    ),
  );
  await mkdir(join(stateDir, 'user-data', 'Machine'), { recursive: true });
  await writeFile(
    join(stateDir, 'user-data', 'Machine', 'settings.json'),
    JSON.stringify(
      {
        'vramGuard.source': 'nvml',
        'vramGuard.nvmlLibraryPath': fakeLibrary,
        'vramGuard.sampleIntervalMs': 500,
        'vramGuard.adaptiveRate': { enabled: false, fastIntervalMs: 250, calmIntervalMs: 2000, margin: '5%' },
        'vramGuard.fallbackChain': [{ action: 'unloadModel', target: 'ollama', trigger: 'critical' }],
        'vramGuard.fallbackMode': 'manual',
        'vramGuard.fallback.settleTimeoutSeconds': 3,
        // A quick budget spike: its stages are marked on the chart.
        'vramGuard.spike.settleSeconds': 0,
        'vramGuard.spike.samples': 1,
        'vramGuard.spike.rounds': 1,
        'vramGuard.spike.peakWindowSeconds': 0,
      },
      null,
      2,
    ),
  );
  await mkdir(screenshotDir, { recursive: true });
  // Three hours recorded before this VS Code started: the dashboard must read them back from disk.
  const historyDir = join(stateDir, 'user-data', 'User', 'globalStorage', 'vram-guard.vram-guard', 'history');
  await mkdir(historyDir, { recursive: true });
  const seeded = seededHistory(Date.now() - 3 * 3_600_000, Date.now() - 5000);
  await writeFile(join(historyDir, `history-${seeded.start}.jsonl`), `${seeded.lines.join('\n')}\n`);

  const totals: Totals = { passed: 0, failed: 0, skipped: 0 };
  let page!: Page;
  let frame!: Frame;
  let peakMib = 0;

  const steps: Step[] = [
    {
      name: 'the workbench opens in a trusted workspace',
      run: async () => {
        const server = await workbench.startServer({
          mode: 'smoke',
          stateDir,
          env: { FAKE_NVML_STATE: fake.path, VRAM_GUARD_NVML_LIBRARY: undefined },
          extraArgs: ['--disable-workspace-trust'],
        });
        const browser = await workbench.launchBrowser({ viewport: { width: 1400, height: 1300 } });
        page = browser.page;
        await page.goto(testUrl(server, workspace, null), { timeout: 60_000 });
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
        await page.locator('[id="vram-guard.vram-guard.vramGuard.status"]').filter({ hasText: '5.0/8.0 GiB' }).waitFor({ timeout: 45_000 });
      },
    },
    {
      name: "the dashboard opens and its chart draws the fake GPU's samples",
      run: async () => {
        await palette(page, 'VRAM Guard: Open Dashboard');
        frame = await dashboardFrame(page);
        const facts = await waitFor('the chart of GPU 0 has no points', 15_000, async () => {
          const f = await chartFacts(frame);
          return f.canvas && f.points >= 3 ? f : null;
        });
        if (Math.abs(facts.lastMib - 5.0 * 1024) > 1) throw new Error(`the chart's last point is ${facts.lastMib} MiB, the fake GPU has ${5.0 * 1024} MiB`);
        const title = (await frame.locator('.gpu[data-gpu="0"] .gpu-title').textContent()) ?? '';
        if (!/RTX 3070/.test(title)) throw new Error(`the GPU's title does not name it: ${title}`);
      },
    },
    {
      name: 'the history recorded before this start is read back from disk, with its markers',
      run: async () => {
        await pickRange(frame, 'all');
        await waitFor('the "All" range does not show the three recorded hours', 10_000, async () => (await chartFacts(frame)).points > 1000);
        const kinds = await frame.locator('.chart[data-gpu="0"] .marker').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
        for (const kind of ['transition', 'fallback', 'task'])
          if (!kinds.includes(kind)) throw new Error(`no ${kind} marker from the recorded history (markers: ${kinds.join(', ')})`);
      },
    },
    {
      name: 'a level transition appears as a marker while the dashboard is open (dark theme)',
      run: async () => {
        await colorTheme(page, 'Dark Modern', '.monaco-workbench.vs-dark');
        await roomy(page);
        frame = await dashboardFrame(page);
        await pickRange(frame, 'all');
        const marker = frame.locator('.chart[data-gpu="0"] .marker[data-kind="transition"].level-critical');
        const before = await marker.count();
        await fake.write(fakeGpu(7.4)); // 92.5 %: CRITICAL
        await waitFor('no new CRITICAL transition marker appeared on the chart', 15_000, async () => (await marker.count()) > before);
        const label = (await marker.last().getAttribute('aria-label')) ?? '';
        if (!/OK → CRITICAL/.test(label)) throw new Error(`the marker's details do not say which levels: ${label}`);
        await waitFor('the chart did not rise', 10_000, async () => (await chartFacts(frame)).lastMib > 7000);
        await page.waitForTimeout(1500);
        await shoot(page, 'dashboard-dark', true);
        await fake.write(fakeGpu(5.0));
        await waitFor('the chart did not come back down', 10_000, async () => (await chartFacts(frame)).lastMib < 5200);
      },
    },
    {
      name: 'the process table names the GPU processes VRAM Guard did not start (Ollama runner, llama-server, faster-whisper, Xorg) by kind, model and port',
      run: async () => {
        outside = await startOutsideServers();
        try {
          // NVML lists them with their VRAM, and 140 MiB that no process accounts for (the driver's own).
          const state = fakeGpu(5.0);
          const device = state.devices[0]!;
          device.processes = outside.nvmlProcesses();
          device.used = (outside.processes.reduce((sum, p) => sum + p.usedMiB, 0) + 140) * MiB;
          await fake.write(state);
          const table = frame.locator('.processes[data-gpu="0"] table');
          // What a user reads in each row: PID, Process, Task / server, VRAM.
          const rows = async () => Promise.all((await table.locator('tbody tr').all()).map((r) => r.locator('td').allTextContents()));
          let seen: string[][] = [];
          await waitFor('the process table did not name every process VRAM Guard did not start', 30_000, async () => {
            seen = await rows();
            return outside!.processes.every((p) =>
              seen.some(([pid, name, owner, vram]) => pid === String(p.pid) && name?.startsWith(p.shows) && owner === '—' && vram === `${p.usedMiB} MiB`),
            );
          }).catch((err: Error) => {
            throw new Error(`${err.message}; the table says: ${seen.map((r) => r.join(' | ')).join(' / ')}`);
          });
          for (const p of outside.processes) console.log(`       ${p.pid} ${p.shows}) ${p.usedMiB} MiB`);
          const heading = frame.locator('.gpu[data-gpu="0"] h3').filter({ hasText: 'Processes' });
          await frame.locator('.processes[data-gpu="0"]').scrollIntoViewIfNeeded();
          const top = await heading.boundingBox();
          const box = await frame.locator('.processes[data-gpu="0"]').boundingBox();
          if (!top || !box) throw new Error('the process table is not on the screen');
          const pad = 8;
          await page.screenshot({
            path: join(screenshotDir, 'dashboard-processes.png'),
            clip: { x: box.x - pad, y: top.y - pad, width: box.width + 2 * pad, height: box.y + box.height - top.y + 2 * pad },
            timeout: 10_000,
          });
        } finally {
          // The steps after this one know the GPU at 5.0 GB with its one process: put it back, then stop the stand-ins.
          await fake.write(fakeGpu(5.0));
          await outside?.stop();
          outside = null;
          await page.locator('[id="vram-guard.vram-guard.vramGuard.status"]').filter({ hasText: '5.0/8.0 GiB' }).waitFor({ timeout: 20_000 });
        }
      },
    },
    {
      name: 'the dashboard reads well in the light theme',
      run: async () => {
        await colorTheme(page, 'Light Modern', '.monaco-workbench.vs');
        frame = await dashboardFrame(page);
        await pickRange(frame, 'all');
        await waitFor('the chart was not redrawn', 10_000, async () => (await chartFacts(frame)).canvas);
        await page.waitForTimeout(1000);
        await shoot(page, 'dashboard-light', true);
      },
    },
    {
      name: 'axe-core finds no serious or critical violation in the dashboard, in the light, dark high-contrast and light high-contrast themes',
      run: async () => {
        for (const [theme, selector] of [
          [null, null],
          ['Dark High Contrast', '.monaco-workbench.hc-black'],
          ['Light High Contrast', '.monaco-workbench.hc-light'],
        ] as const) {
          if (theme && selector) await colorTheme(page, theme, selector);
          frame = await dashboardFrame(page);
          await waitFor('the chart was not redrawn', 10_000, async () => (await chartFacts(frame)).canvas);
          const found = await seriousViolations(frame);
          if (found.length) throw new Error(`axe-core (${theme ?? 'Light Modern'}): ${found.join('; ')}`);
          if (theme === 'Dark High Contrast') await shoot(page, 'dashboard-high-contrast', true);
        }
        await colorTheme(page, 'Light Modern', '.monaco-workbench.vs');
        frame = await dashboardFrame(page);
      },
    },
    {
      name: 'the dashboard works from the keyboard: every control takes focus, focus is visible, Enter picks a range; the chart has a text alternative',
      run: async () => {
        // Disabled controls are out of the tab order on purpose; every other one takes the focus (the
        // checkbox hands it to the input in its shadow root, and the page's focus is then the checkbox).
        const unreachable = await frame
          .locator('vscode-button:not([disabled]), vscode-checkbox:not([disabled]), select:not([disabled]), .marker')
          .evaluateAll((els) =>
            els
              .filter((e) => {
                const el = e as unknown as { focus(): void; ownerDocument: { activeElement: unknown } };
                el.focus();
                return el.ownerDocument.activeElement !== el;
              })
              .map((e) => (e as unknown as { outerHTML: string }).outerHTML.slice(0, 120)),
          );
        if (unreachable.length) throw new Error(`controls that cannot take the keyboard focus: ${unreachable.join(' | ')}`);
        const five = frame.locator('vscode-button[data-range="5m"]');
        await five.focus();
        await page.keyboard.press('Enter');
        await waitFor('Enter on the focused "5 min" button did not pick the range', 5000, async () => (await five.getAttribute('aria-pressed')) === 'true');
        const marker = frame.locator('.chart[data-gpu="0"] .marker').first();
        await marker.focus();
        const outline = await marker.evaluate((el) => {
          const g = globalThis as unknown as { getComputedStyle(e: unknown): { outlineStyle: string; outlineWidth: string } };
          const st = g.getComputedStyle(el);
          return `${st.outlineStyle} ${st.outlineWidth}`;
        });
        if (/^none|\b0px/.test(outline)) throw new Error(`a focused marker shows no outline (${outline})`);
        const alt = (await frame.locator('.gpu[data-gpu="0"] .chart-alt').textContent()) ?? '';
        if (!/^Used VRAM on GPU 0 over the last .+: [\d.]+ GiB of 8\.00 GiB now, lowest/.test(alt))
          throw new Error(`the chart's text alternative says: ${alt}`);
        const verdict = (await frame.locator('.gpu[data-gpu="0"] .gpu-verdict').textContent()) ?? '';
        if (!/^(OK|WARNING|CRITICAL|EMERGENCY), .+ · /.test(verdict)) throw new Error(`the card's first line is not its verdict: ${verdict}`);
        await pickRange(frame, 'all');
      },
    },
    {
      name: 'axe-core finds no serious or critical violation in the GPU details view',
      run: async () => {
        await palette(page, 'VRAM Guard: Show GPU Details');
        const preview = await waitFor('the GPU details did not open in a preview', 20_000, async () => {
          for (const f of page.frames())
            if (
              f !== page.mainFrame() &&
              (await f
                .locator('body')
                .filter({ hasText: 'RTX 3070' })
                .filter({ hasNot: f.locator('#app') })
                .count()
                .catch(() => 0))
            )
              return f;
          return null;
        });
        // The page around the Markdown is VS Code's own preview (it has no <title> or lang, whatever
        // the content): those two document rules are its, not ours; everything we write is checked.
        const found = await seriousViolations(preview, undefined, ['document-title', 'html-has-lang']);
        if (found.length) throw new Error(`axe-core in the details view: ${found.join('; ')}`);
        const headings = await preview.locator('h1, h2, table').count();
        if (headings < 2) throw new Error(`the details view has ${headings} headings and tables: axe-core checked an empty page`);
        await closeTab(page, /GPU details/);
      },
    },
    {
      name: 'the gate refuses a model that does not fit in one sentence; "Show details" opens its report; "Apply…" writes the context that fits into tasks.json',
      run: async () => {
        // A 3B model at a 128k context (about 16 GiB with its f16 KV cache) on the 8 GiB GPU with 1.5 GiB used.
        await fake.write(fakeGpu(1.5));
        await page.locator('[id="vram-guard.vram-guard.vramGuard.status"]').filter({ hasText: '1.5/8.0 GiB' }).waitFor({ timeout: 20_000 });
        const model = await writeGguf('e2e-apply-llama-3b', LLAMA_32_3B, { sparse: true });
        const tasksFile = join(workspace, '.vscode', 'tasks.json');
        const original = await readFile(tasksFile, 'utf8');
        const tasks = JSON.parse(original) as { tasks: Array<Record<string, unknown>> };
        const args = ['-m', model, '-c', '131072', '-ngl', '99', '--port', '1'];
        tasks.tasks.push({ label: BIG_TASK, type: 'vram-guard', server: 'llama-server', command: ['llama-server'], args, port: 1, problemMatcher: [] });
        await writeFile(tasksFile, JSON.stringify(tasks, null, 2));
        const refusal = async () => {
          // VS Code reads the changed tasks.json when its file watcher says so: ask again until the task is listed.
          await waitFor(`"Tasks: Run Task" did not list "${BIG_TASK}"`, 45_000, () =>
            palette(page, 'Tasks: Run Task', BIG_TASK, 20_000).then(
              () => true,
              async () => {
                await page.keyboard.press('Escape');
                return false;
              },
            ),
          );
          const notice = page
            .locator('.notification-list-item')
            .filter({ hasText: /Not started: llama 3B/ })
            .last();
          // As a toast, or, when the toasts are full, in the notification centre (the bell opens it).
          await notice.waitFor({ state: 'visible', timeout: 15_000 }).catch(async () => {
            await shoot(page, 'dashboard-apply-toast-missing');
            await page.locator('[id="status.notifications"]').first().click({ timeout: 5000 });
            await notice.waitFor({ state: 'visible', timeout: 15_000 });
          });
          return notice;
        };
        try {
          let notice = await refusal();
          const text = ((await notice.locator('.notification-list-item-message').textContent()) ?? '').trim();
          // 8192 MiB less 1536 MiB used: 6.5 GiB free.
          if (text.length >= 160 || !/needs \d+\.\d GiB, 6\.5 GiB is free \(\d+\.\d GiB short\)\.$/.test(text))
            throw new Error(`the refusal is not one sentence with the need and what is free: ${text}`);
          const buttons = (await notice.locator('.monaco-button').allTextContents()).map((b) => b.trim());
          for (const action of ['Start anyway', 'Show details', 'Apply…'])
            if (!buttons.includes(action)) throw new Error(`no "${action}" (buttons: ${buttons.join(', ')})`);
          await notice.locator('.monaco-button').filter({ hasText: 'Show details' }).click();
          await page
            .locator('.tabs-container .tab')
            .filter({ hasText: /VRAM gate/ })
            .first()
            .waitFor({ timeout: 15_000 });
          const report = await waitFor("the gate's report did not open", 15_000, async () => {
            for (const f of page.frames())
              if (
                f !== page.mainFrame() &&
                (await f
                  .locator('body')
                  .filter({ hasText: 'What would fit' })
                  .count()
                  .catch(() => 0))
              )
                return f;
            return null;
          });
          const reportText = (await report.locator('body').textContent()) ?? '';
          if (!/131072/.test(reportText)) throw new Error(`the gate's report does not give the context asked for: ${reportText.slice(0, 300)}`);
          await closeTab(page, /VRAM gate/);

          notice = await refusal();
          await notice.locator('.monaco-button').filter({ hasText: 'Apply…' }).click();
          const first = page.locator('.quick-input-list .monaco-list-row').first();
          await first.waitFor({ state: 'visible', timeout: 10_000 });
          const flags = ((await first.locator('.label-name').first().textContent()) ?? '').trim();
          const context = /-c (\d+)/.exec(flags)?.[1];
          if (!context) throw new Error(`the first suggestion gives no context: "${flags}"`);
          await first.click();
          // Nothing is written before the confirmation.
          await page.locator('.monaco-dialog-box').waitFor({ state: 'visible', timeout: 10_000 });
          if ((await readFile(tasksFile, 'utf8')).includes(`"${context}"`)) throw new Error('tasks.json changed before the confirmation');
          await page
            .locator('.monaco-dialog-box .monaco-button')
            .filter({ hasText: /^Apply$/ })
            .click();
          const written = await waitFor('tasks.json did not get the new context', 10_000, async () => {
            const t = JSON.parse(await readFile(tasksFile, 'utf8')) as { tasks: Array<{ label: string; args?: string[] }> };
            const a = t.tasks.find((x) => x.label === BIG_TASK)?.args ?? [];
            return a.includes(context) ? a : null;
          });
          if (written.includes('131072') || !written.includes(model) || !written.includes('--port'))
            throw new Error(`tasks.json's arguments are not the old ones with the new context: ${written.join(' ')}`);
          console.log(`       applied "${flags}": ${written.join(' ').replace(model, 'MODEL')}`);
        } finally {
          // The steps after this one know one task and a GPU at 5.0 GB: put both back.
          await page.keyboard.press('Escape');
          await writeFile(tasksFile, original);
          await fake.write(fakeGpu(5.0));
          await page.locator('[id="vram-guard.vram-guard.vramGuard.status"]').filter({ hasText: '5.0/8.0 GiB' }).waitFor({ timeout: 20_000 });
          frame = await dashboardFrame(page);
        }
      },
    },
    {
      name: 'the emulated Ollama starts as a vram-guard task',
      run: async () => {
        await palette(page, 'Tasks: Run Task');
        await page.waitForTimeout(1000);
        await shoot(page, 'dashboard-run-task');
        const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: TASK }).first();
        await row.waitFor({ state: 'visible', timeout: 20_000 });
        await row.click();
        await waitFor(`the emulated Ollama did not answer on port ${port}`, 40_000, async () => (await fetch(`http://127.0.0.1:${port}/`)).ok);
      },
    },
    {
      name: "the model server's card shows the model it loaded",
      run: async () => {
        frame = await dashboardFrame(page);
        // Ollama loads its model: 2448 MiB more, 5.0 → 7.4 GiB of 8 (92 %): CRITICAL.
        const res = await fetch(`http://127.0.0.1:${port}/api/generate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: MODEL }),
        });
        if (!res.ok) throw new Error(`the emulated Ollama did not load ${MODEL}: ${res.status}`);
        peakMib = (
          await waitFor('the chart did not rise with the model', 15_000, async () => {
            const f = await chartFacts(frame);
            return f.lastMib > 7000 ? f : null;
          })
        ).lastMib;
        const card = frame.locator(`.server[data-server="${TASK}"]`);
        await waitFor(
          `no card for "${TASK}" with ${MODEL}`,
          20_000,
          async () => (await card.count()) > 0 && /llama3\.2:3b/.test((await card.textContent()) ?? ''),
        );
        await shoot(page, 'dashboard-server');
      },
    },
    {
      name: '"Run this step now" unloads the Ollama model and the chart shows the drop',
      run: async () => {
        await roomy(page);
        frame = await dashboardFrame(page);
        await frame.locator('vscode-button[data-step="0"]').click();
        const after = await waitFor('the chart did not fall after the step', 20_000, async () => {
          const f = await chartFacts(frame);
          return f.lastMib < peakMib - 2000 ? f : null;
        });
        await waitFor('no fallback marker on the chart', 10_000, async () => (await frame.locator('.marker[data-kind="fallback"]').count()) > 0);
        const actions = (await frame.locator('.actions-list').textContent()) ?? '';
        if (!/done/.test(actions)) throw new Error(`the last actions do not list the step as done: ${actions.slice(0, 300)}`);
        console.log(`       ${peakMib} MiB → ${after.lastMib} MiB`);
        await page.waitForTimeout(1000);
        await shoot(page, 'dashboard-after-step', true);
        // Zoom (drag across the chart) to the last minute or so: the rise, the step's marker and the drop.
        await page.waitForTimeout(3000);
        await pickRange(frame, '5m');
        await page.waitForTimeout(500);
        // The step's button is further down the page: bring the chart back into view to drag across it.
        await frame.locator('.chart[data-gpu="0"] .u-over').scrollIntoViewIfNeeded();
        const plot = await frame.locator('.chart[data-gpu="0"] .u-over').boundingBox();
        if (!plot) throw new Error('the chart has no plot area');
        await page.mouse.move(plot.x + plot.width * 0.72, plot.y + plot.height / 2);
        await page.mouse.down();
        await page.mouse.move(plot.x + plot.width * 0.99, plot.y + plot.height / 2, { steps: 8 });
        await page.mouse.up();
        await waitFor('dragging across the chart did not zoom', 5000, async () => (await frame.locator('.ranges .hint').count()) > 0);
        await page.waitForTimeout(1000);
        await frame.locator('.gpu[data-gpu="0"]').screenshot({ path: join(screenshotDir, 'dashboard-fallback-chart.png'), timeout: 10_000 });
        await pickRange(frame, 'all');
      },
    },
    {
      name: 'after a reload the dashboard comes back (its serializer) with the history',
      run: async () => {
        await page.waitForTimeout(2000); // the workbench saves the page's state lazily
        await page.reload({ timeout: 60_000 });
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
        frame = await dashboardFrame(page);
        const pressed = await frame.locator('vscode-button[aria-pressed="true"]').count();
        if (pressed !== 1) throw new Error(`the restored dashboard shows ${pressed} selected ranges`);
        await pickRange(frame, 'all');
        await waitFor('the restored dashboard does not show the whole history in its "All" range', 20_000, async () => (await chartFacts(frame)).points > 1000);
        await waitFor('no fallback marker after the reload', 10_000, async () => (await frame.locator('.marker[data-kind="fallback"]').count()) >= 2);
      },
    },
    {
      name: 'a budget spike marks its stages on the chart',
      run: async () => {
        await palette(page, 'Run VRAM Budget Spike');
        // The only vram-guard task: picking it completes the list; then its Ollama model is asked for.
        const taskRow = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: TASK }).first();
        await taskRow.waitFor({ state: 'visible', timeout: 15_000 });
        await taskRow.click();
        // Answer what the spike asks, in the order it asks: the model (once), then whether to stop the servers.
        const stopRow = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: 'Stop them when the spike ends' }).first();
        let modelGiven = false;
        await waitFor('the spike did not ask for the Ollama model and whether to stop its servers', 20_000, async () => {
          if (await stopRow.isVisible()) {
            await stopRow.click();
            return true;
          }
          const asksModel = /model the load request/.test((await page.locator('.quick-input-widget').textContent()) ?? '');
          const input = page.locator('.quick-input-widget input:visible').first();
          if (!modelGiven && asksModel && (await input.count()) > 0) {
            await input.fill(MODEL);
            await page.keyboard.press('Enter');
            modelGiven = true;
          }
          return false;
        });
        if (!modelGiven) throw new Error('the spike never asked for the Ollama model of a task that names none');
        // When it ends, the spike opens its saved report.
        await waitFor(
          'the spike did not finish (no report opened)',
          120_000,
          async () =>
            (await page
              .locator('.tabs-container .tab')
              .filter({ hasText: /spike-.*\.md/ })
              .count()) > 0,
        );
        await palette(page, 'VRAM Guard: Open Dashboard');
        frame = await dashboardFrame(page);
        await pickRange(frame, '5m');
        const labels = await waitFor('no budget spike markers on the chart', 15_000, async () => {
          const found = await frame
            .locator('.chart[data-gpu="0"] .marker[data-kind="spike"]')
            .evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
          return found.length >= 3 ? found : null;
        });
        for (const stage of [
          /budget spike: baseline/,
          new RegExp(`budget spike: starting ${TASK.replace(/[()]/g, '\\$&')}`),
          /budget spike: (finished|incomplete)/,
        ]) {
          if (!labels.some((l) => stage.test(l))) throw new Error(`no marker matching ${stage}; the spike markers say: ${labels.join(' | ')}`);
        }
        console.log(`       ${labels.length} spike markers`);
      },
    },
    {
      name: 'the Fleet section shows the three hosts a real Prometheus scrapes, with their figures, levels and holders',
      run: async () => {
        fleet = await startFleet();
        await fleet.waitFor('vram_guard_process_memory_used_bytes{task="llama-chat"}', (r) => r.length > 0, 'the llama-chat task to be scraped');
        // A user setting, as a user sets it: the running extension reads it on the change.
        const machineSettings = join(stateDir, 'user-data', 'Machine', 'settings.json');
        const current = JSON.parse(await readFile(machineSettings, 'utf8')) as Record<string, unknown>;
        await writeFile(
          machineSettings,
          JSON.stringify({ ...current, 'vramGuard.fleet.prometheus': fleet.prometheusUrl, 'vramGuard.fleet.refreshSeconds': 5 }, null, 2),
        );
        frame = await dashboardFrame(page);
        const row = (host: string, gpu: number) => frame.locator(`.fleet-gpu[data-host="${host}"][data-gpu="${gpu}"]`);
        await waitFor('the Fleet section did not show gpu-lab', 40_000, async () => (await row('gpu-lab', 0).count()) > 0);
        const lab = GPU_LAB.state.devices[0]!;
        assert(Number(await row('gpu-lab', 0).getAttribute('data-used-mib')) === lab.used! / MiB, 'gpu-lab GPU 0 shows the wrong used figure');
        assert((await row('gpu-lab', 0).getAttribute('data-level')) === 'critical', 'gpu-lab GPU 0 is not CRITICAL');
        assert((await row('gpu-lab', 1).getAttribute('data-level')) === 'ok', 'gpu-lab GPU 1 is not OK');
        const desk = (await row('gpu-desk', 0).textContent()) ?? '';
        assert(desk.includes(`${GPU_DESK.server!.name} (task)`), `gpu-desk does not name its task: ${desk}`);
        for (const g of DGX_A100.gpus) {
          assert(Number(await row('dgx-a100', g.index).getAttribute('data-used-mib')) === g.fbUsedMiB, `dgx-a100 GPU ${g.index} shows the wrong used figure`);
        }
        const line = (await frame.locator('.fleet-line').textContent()) ?? '';
        assert(line === 'fleet: 3 hosts, 5 GPUs, 1 CRITICAL', `the fleet line says "${line}"`);
        await waitFor('the sparklines have no line', 20_000, async () => (await frame.locator('.fleet .spark-line').count()) >= 5);
        await frame.locator('section.fleet').scrollIntoViewIfNeeded();
        await page.waitForTimeout(500);
        await frame.locator('section.fleet').screenshot({ path: join(screenshotDir, 'dashboard-fleet.png'), timeout: 10_000 });
        const found = await seriousViolations(frame, 'section.fleet');
        if (found.length) throw new Error(`axe-core in the Fleet section: ${found.join('; ')}`);
      },
    },
    {
      name: 'stopping an exporter turns its host stale in the dashboard',
      run: async () => {
        await fleet!.exporter('gpu-lab').stop();
        const card = frame.locator('.fleet-host[data-host="gpu-lab"]');
        await waitFor('gpu-lab did not turn stale', 30_000, async () =>
          /no data since \d\d:\d\d:\d\d/.test(
            (await card
              .locator('.fleet-stale')
              .textContent()
              .catch(() => '')) ?? '',
          ),
        );
        const line = (await frame.locator('.fleet-line').textContent()) ?? '';
        assert(line === 'fleet: 2 hosts, 3 GPUs, 1 stale', `the fleet line says "${line}"`);
      },
    },
  ];

  await runSteps(steps, totals, {
    // Each step builds on the one before it, except that the fleet's steps need only the open
    // dashboard, not the fallback step's zoom or the reload.
    // The accessibility checks leave the page as they found it, so the rest can go on without them.
    stopsTheRest: (step) =>
      !/^"Run this step now"|^after a reload|^the process table names|^axe-core|^the dashboard works from the keyboard|^the gate refuses a model/.test(
        step.name,
      ),
    onFailure: async () => {
      if (page) console.log(`       screenshot: ${await shoot(page, 'dashboard-failure')}`);
    },
  });
  await stopAllStarted();
  if (totals.failed === 0) {
    // VRAM_GUARD_UPDATE_DOCS_IMAGES=1 refreshes the README's screenshots from this run.
    if (process.env.VRAM_GUARD_UPDATE_DOCS_IMAGES === '1') {
      for (const [from, to] of [
        ['dashboard-dark', 'dashboard-dark'],
        ['dashboard-light', 'dashboard-light'],
        ['dashboard-fallback-chart', 'dashboard-fallback'],
        ['dashboard-fleet', 'dashboard-fleet'],
        ['dashboard-processes', 'dashboard-processes'],
      ]) {
        await copyFile(join(screenshotDir, `${from}.png`), join(repoRoot, 'docs', 'images', `${to}.png`));
      }
    }
    if (process.env.VRAM_GUARD_KEEP_STATE !== '1') {
      await rm(stateDir, { recursive: true, force: true });
      await rm(join(fake.path, '..'), { recursive: true, force: true });
    }
  } else {
    console.log(`  state kept in ${stateDir}`);
  }
  console.log(`  screenshots: ${screenshotDir}`);
  console.log(`\ndashboard browser tests took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return totals;
}

if (import.meta.main) {
  stopEverythingOnExit(stopAllStarted);
  let totals: Totals;
  console.log('# browser: the VRAM Guard dashboard in VS Code in Chromium');
  try {
    totals = await runDashboardE2e();
  } catch (err) {
    console.log(`dashboard browser tests could not run: ${(err as Error).message}`);
    totals = { passed: 0, failed: 1, skipped: 0 };
  }
  await stopAllStarted();
  console.log(summaryLine(totals));
  process.exitCode = totals.failed > 0 ? 1 : 0;
}
