/**
 * `npm start`: the product, one command away.
 *
 * Builds and packages the extension, installs it into a real VS Code (the server bundled in the
 * code-server npm package, installed into .vscode-test/ on first use), opens a copy of the sample
 * workspace (samples/workspace) and prints the URL. On a machine without an NVIDIA GPU the sample
 * workspace is pointed at the replay source: a simulated GPU playing a recorded trace.
 * Ctrl-C stops the server and everything it started.
 *
 *   npm start [-- --port 8765] [-- --simulate] [-- --speed 2] [-- --trace FILE] [-- --check]
 *
 * --simulate  use the simulated GPU even when a real one is there
 * --speed N   replay speed (trace seconds per second), default 1
 * --trace F   the trace to replay, default media/traces/a1000-4gb-speech-cascade.jsonl
 * --check     start, open the page in headless Chromium, wait until the status bar shows the GPU
 *             (and, when simulated, a level change), save screenshots to test-results/start/, stop.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Frame, Locator, Page } from 'playwright-core';
import { launchBrowser, type RunningBrowser } from './vscode/browser.ts';
import { ensureVsCode } from './vscode/install.ts';
import { cacheRoot, repoRoot, testResults } from './vscode/paths.ts';
import { descendantsOf, runToEnd, stopEverythingOnExit } from './vscode/processes.ts';
import { freePort, startServer, type RunningServer } from './vscode/server.ts';

const DEFAULT_TRACE = join(repoRoot, 'media', 'traces', 'a1000-4gb-speech-cascade.jsonl');
const STATUS_ITEM_ID = 'vram-guard.vram-guard.vramGuard.status';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    simulate: { type: 'boolean', default: false },
    speed: { type: 'string', default: '1' },
    trace: { type: 'string' },
    check: { type: 'boolean', default: false },
  },
});

let server: RunningServer | null = null;
let browser: RunningBrowser | null = null;
let stopping = false;

async function shutdown(): Promise<void> {
  stopping = true;
  await browser?.close();
  browser = null;
  await server?.stop();
  server = null;
}

function say(message: string): void {
  process.stdout.write(`${message}\n`);
}

async function step(name: string, command: string[], timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  let output = '';
  const code = await runToEnd(name, process.execPath, command, { cwd: repoRoot, timeoutMs, onOutput: (c) => (output += c) });
  if (code !== 0) throw new Error(`${name} failed (exit ${String(code)}):\n${output.trim()}`);
  say(`  ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** Whether the extension would find a real GPU here (NVML, else nvidia-smi), asked the same way it asks. */
async function realGpu(): Promise<{ found: boolean; detail: string }> {
  try {
    const { probeSource } = await import('../src/core/gpu/probe.ts');
    const result = await probeSource({ preference: 'auto' });
    if (result.ok) {
      const detail = result.source.description;
      await result.source.dispose();
      return { found: true, detail };
    }
    return { found: false, detail: result.reason };
  } catch (err) {
    return { found: false, detail: `the probe failed: ${(err as Error).message}` };
  }
}

async function prepareWorkspace(simulate: boolean, trace: string, speed: number): Promise<string> {
  const workspace = join(cacheRoot, 'start', 'workspace');
  await rm(workspace, { recursive: true, force: true });
  await cp(join(repoRoot, 'samples', 'workspace'), workspace, { recursive: true });
  const settingsFile = join(workspace, '.vscode', 'settings.json');
  // The sample's settings file has comments: keep it as text and add the replay lines.
  const text = await readFile(settingsFile, 'utf8');
  if (simulate) {
    const replay = [
      '  // Added by npm start: no NVIDIA GPU here, so a simulated GPU replays a recorded trace.',
      '  "vramGuard.source": "replay",',
      `  "vramGuard.replayFile": ${JSON.stringify(trace)},`,
      `  "vramGuard.replaySpeed": ${speed},`,
    ].join('\n');
    await writeFile(settingsFile, text.replace(/^\{\n/, `{\n${replay}\n`));
  }
  await pointTasksAtEmulators(join(workspace, '.vscode', 'tasks.json'));
  return workspace;
}

/** The model servers the sample's tasks name, emulated by the repository's test fixtures. */
const EMULATORS: Record<string, string> = {
  'whisper-server': join(repoRoot, 'test', 'fixtures', 'servers', 'whisper-cpp.ts'),
  'llama-server': join(repoRoot, 'test', 'fixtures', 'servers', 'llama-server.ts'),
};

/** The sample's tasks run `whisper-server` and `llama-server`; here they run the emulators, with this Node. */
async function pointTasksAtEmulators(tasksFile: string): Promise<void> {
  const tasks = JSON.parse(await readFile(tasksFile, 'utf8')) as { tasks: Array<{ command?: string[] }> };
  for (const task of tasks.tasks) {
    const [program, ...rest] = task.command ?? [];
    const emulator = program !== undefined && rest.length === 0 ? EMULATORS[program] : undefined;
    if (emulator) task.command = [process.execPath, emulator];
  }
  await writeFile(tasksFile, `${JSON.stringify(tasks, null, 2)}\n`);
}

/**
 * The served VS Code's user settings: it opens onto VRAM Guard (the README, and the dashboard
 * beside it, which the sample workspace asks for), without a welcome page, tips or a chat panel.
 * Settings changed in that VS Code are kept; these keys are set again at every start.
 */
const FIRST_RUN_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'readme',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'workbench.enableExperiments': false,
};

async function provisionUserSettings(userDataDir: string): Promise<void> {
  // The workspace is a fresh copy at every start: so is the window's state (open editors, layout).
  await rm(join(userDataDir, 'User', 'workspaceStorage'), { recursive: true, force: true });
  const file = join(userDataDir, 'User', 'settings.json');
  let current: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) current = parsed as Record<string, unknown>;
  } catch {
    // none yet (or not plain JSON): start from these
  }
  await mkdir(join(userDataDir, 'User'), { recursive: true });
  await writeFile(file, `${JSON.stringify({ ...current, ...FIRST_RUN_SETTINGS }, null, 2)}\n`);
}

/** The newest "VRAM Guard" output channel file of this server, if any. */
async function extensionLog(): Promise<string | null> {
  const root = join(cacheRoot, 'start', 'user-data', 'logs');
  const found: Array<{ path: string; mtime: number }> = [];
  for (const entry of await readdir(root, { recursive: true }).catch(() => [] as string[])) {
    if (!/VRAM Guard\.log$/.test(entry)) continue;
    const path = join(root, entry);
    found.push({ path, mtime: (await stat(path)).mtimeMs });
  }
  return found.sort((a, b) => b.mtime - a.mtime)[0]?.path ?? null;
}

/** Waits until the status bar item shows "x/y GiB"; fails early, with what it shows, when it says "no GPU". */
async function waitForGpuText(item: Locator, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '(no VRAM Guard item in the status bar)';
  let noGpuSince: number | null = null;
  while (Date.now() < deadline) {
    if (await item.count()) {
      text = ((await item.textContent().catch(() => '')) ?? '').trim();
      if (/\d\/\d+(\.\d)? GiB/.test(text)) return text;
      if (/no GPU/.test(text)) {
        noGpuSince ??= Date.now();
        if (Date.now() - noGpuSince > 10_000) break;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const log = await extensionLog();
  const last = log ? (await readFile(log, 'utf8')).trim().split('\n').at(-1) : null;
  const tail = log ? `\n  The extension's log (${log}) ends with:\n  ${last}` : '';
  throw new Error(`the status bar item shows "${text}" instead of the GPU's "x/y GiB".${tail}`);
}

const pageErrors: string[] = [];

async function check(url: string, simulated: boolean): Promise<void> {
  const dir = join(testResults, 'start');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  browser = await launchBrowser();
  const page = browser.page;
  // What the pages (the dashboard's webview included) report as errors, to name the cause when a check fails.
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text().slice(0, 300));
  });
  page.on('pageerror', (e) => pageErrors.push(String(e).slice(0, 300)));
  // Which resource failed, by address: a console line says only its status.
  page.on('response', (r) => {
    if (r.status() >= 400) pageErrors.push(`HTTP ${r.status()} for ${r.url().slice(0, 200)}`);
  });
  page.on('requestfailed', (r) => pageErrors.push(`request failed (${r.failure()?.errorText ?? 'no reason'}) for ${r.url().slice(0, 200)}`));
  await page.goto(url, { timeout: 60_000 });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  const item = page.locator(`[id="${STATUS_ITEM_ID}"]`);
  const bar = page.locator('[id="workbench.parts.statusbar"]');
  const first = await waitForGpuText(item, 60_000);
  say(`  check: status bar shows "${first}"`);
  await bar.screenshot({ path: join(dir, 'statusbar-first.png') });
  await item.hover();
  const hover = page.locator('.workbench-hover, .monaco-hover').filter({ hasText: /GPU/ }).first();
  await hover.waitFor({ state: 'visible', timeout: 15_000 });
  const tooltip = (await hover.textContent()) ?? '';
  await page.screenshot({ path: join(dir, 'statusbar-tooltip.png') });
  await page.mouse.move(10, 10);
  if (simulated) {
    if (!/sim/.test(first)) throw new Error(`the status bar does not say the GPU is simulated: "${first}"`);
    if (!/Simulated GPU/i.test(tooltip)) throw new Error(`the tooltip does not say the GPU is simulated: ${tooltip.slice(0, 200)}`);
    // The trace reaches CRITICAL (the warning background) about 30 s in at speed 1.
    await item.and(page.locator('.warning-kind, .error-kind')).waitFor({ timeout: 90_000 });
    const critical = ((await item.textContent()) ?? '').trim();
    say(`  check: the simulated GPU crossed into CRITICAL: "${critical}"`);
    await bar.screenshot({ path: join(dir, 'statusbar-critical.png') });
  }
  await checkFirstRun(page, dir);
  say(`  check: screenshots in ${dir}`);
}

/**
 * What a newcomer sees first: the README and the dashboard beside it, no welcome page and no chat;
 * then the VRAM gate refusing the sample task that does not fit.
 */
async function checkFirstRun(page: Page, dir: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let dashboard = null as Frame | null;
  while (!dashboard && Date.now() < deadline) {
    for (const frame of page.frames())
      if (
        await frame
          .locator('#app[data-ready="1"]')
          .count()
          .catch(() => 0)
      )
        dashboard = frame;
    if (!dashboard) await page.waitForTimeout(250);
  }
  const tabs = (await page.locator('.tabs-container .tab').allTextContents()).map((t) => t.trim());
  if (!dashboard) {
    await page.screenshot({ path: join(dir, 'first-run-failed.png') });
    const frames = page
      .frames()
      .map((f) => f.url().slice(0, 160))
      .join('\n  ');
    // The extension's own account of the page (a page that never loaded is opened again in a fresh panel, and says so).
    const log = await extensionLog();
    const said = log ? (await readFile(log, 'utf8')).split('\n').filter((l) => / dashboard: /.test(l)) : [];
    const errors = `${pageErrors.length ? `\n  The page reported:\n  ${pageErrors.slice(-16).join('\n  ')}` : ''}\n  Frames:\n  ${frames}${said.length ? `\n  The extension's log says:\n  ${said.slice(-4).join('\n  ')}` : ''}`;
    throw new Error(`the dashboard did not open on startup (editor tabs: ${tabs.join(', ') || 'none'}; see ${join(dir, 'first-run-failed.png')})${errors}`);
  }
  if (!tabs.some((t) => /README/.test(t))) throw new Error(`the README is not open (editor tabs: ${tabs.join(', ')})`);
  if (!tabs.some((t) => /VRAM Guard/.test(t))) throw new Error(`no "VRAM Guard" dashboard tab (editor tabs: ${tabs.join(', ')})`);
  const welcome = tabs.filter((t) => /Welcome|Walkthrough|Get Started/i.test(t));
  if (welcome.length) throw new Error(`a welcome page opened: ${welcome.join(', ')}`);
  const groups = await page.locator('.editor-group-container').count();
  if (groups < 2) throw new Error(`the dashboard is not beside the README (${groups} editor group)`);
  const secondarySideBar = page.locator('[id="workbench.parts.auxiliarybar"]');
  if ((await secondarySideBar.count()) && (await secondarySideBar.isVisible())) throw new Error('the secondary side bar (the chat panel) is open');
  say(`  check: opened onto ${tabs.join(' | ')}, in ${groups} editor groups, no welcome page or chat`);
  await page.waitForTimeout(2000); // let the chart draw a few samples
  // The first view shows the replay's line: the chart spans the seconds there are ("last 20 s"), not an empty hour.
  const chart = dashboard.locator('.chart[data-gpu="0"]');
  const points = Number((await chart.getAttribute('data-points')) ?? 0);
  const span = ((await dashboard.locator('.span-label').textContent()) ?? '').trim();
  const verdict = ((await dashboard.locator('.gpu[data-gpu="0"] .gpu-verdict').textContent()) ?? '').trim();
  if (points < 2 || !/^last \d/.test(span)) throw new Error(`the dashboard's first view does not show the replay's line (${points} points, span "${span}")`);
  say(`  check: the dashboard's chart spans the ${span} of ${points} samples; the card reads "${verdict}"`);
  const shot = join(dir, 'first-run.png');
  await page.screenshot({ path: shot });
  // VRAM_GUARD_UPDATE_DOCS_IMAGES=1 refreshes the README's screenshot from this run.
  if (process.env.VRAM_GUARD_UPDATE_DOCS_IMAGES === '1') await cp(shot, join(repoRoot, 'docs', 'images', 'first-run.png'));

  // The gate: the 8B task needs 6 GiB of a 4 GB GPU.
  const refused = 'llama 3.1 8B';
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill('>Tasks: Run Task');
  await page.locator('.quick-input-list .monaco-list-row').filter({ hasText: 'Tasks: Run Task' }).first().click();
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: refused }).first();
  await row.waitFor({ state: 'visible', timeout: 20_000 });
  await row.click();
  const notice = page
    .locator('.notification-list-item')
    .filter({ hasText: /Not started/ })
    .first();
  await notice.waitFor({ state: 'visible', timeout: 30_000 });
  // One sentence under 160 characters with the need (6 GiB), and its actions as buttons.
  const text = ((await notice.locator('.notification-list-item-message').textContent()) ?? '').trim();
  const buttons = (await notice.locator('.monaco-button').allTextContents()).map((b) => b.trim()).filter(Boolean);
  if (text.length >= 160 || !/needs 6\.0 GiB, \d+\.\d GiB is free/.test(text))
    throw new Error(`the gate's notification is not one sentence under 160 characters with the need: ${text}`);
  for (const action of ['Start anyway', 'Show details'])
    if (!buttons.includes(action)) throw new Error(`the gate's notification has no "${action}" (buttons: ${buttons.join(', ')})`);
  say(`  check: the VRAM gate refused "${refused}…" in ${text.length} characters: ${text} [${buttons.join('] [')}]`);
  await page.screenshot({ path: join(dir, 'gate-refused.png') });
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const speed = Number(args.speed);
  if (!Number.isFinite(speed) || speed <= 0) throw new Error(`--speed must be a number above 0, got ${args.speed}`);
  const trace = resolve(args.trace ?? DEFAULT_TRACE);
  if (!existsSync(trace)) throw new Error(`no trace at ${trace}`);

  say('VRAM Guard: starting a real VS Code with the extension');
  await ensureVsCode((m) => say(`  ${m}`));
  const target = `${process.platform}-${process.arch}`;
  // scripts/package.ts builds the bundle (production) and packs the VSIX for this platform.
  await step('build and package', [join(repoRoot, 'scripts', 'package.ts'), '--target', target], 300_000);
  const vsix = join(repoRoot, 'build', `vram-guard-${target}.vsix`);
  if (!existsSync(vsix)) throw new Error(`packaging did not produce ${vsix}`);

  const gpu = args.simulate ? { found: false, detail: '--simulate' } : await realGpu();
  const simulate = !gpu.found;
  say(simulate ? `  GPU: none found (${gpu.detail}), so a SIMULATED GPU replays ${trace} at ${speed}x` : `  GPU: ${gpu.detail}`);
  const workspace = await prepareWorkspace(simulate, trace, speed);

  const stateDir = join(cacheRoot, 'start');
  const extensionsDir = join(stateDir, 'extensions');
  await rm(extensionsDir, { recursive: true, force: true });
  const install = await ensureVsCode();
  await mkdir(extensionsDir, { recursive: true });
  let installOutput = '';
  const code = await runToEnd(
    'install the extension',
    process.execPath,
    [install.codeServerEntry, '--user-data-dir', join(stateDir, 'user-data'), '--extensions-dir', extensionsDir, '--install-extension', vsix],
    {
      cwd: stateDir,
      timeoutMs: 120_000,
      onOutput: (c) => (installOutput += c),
    },
  );
  if (code !== 0 || !/successfully installed/i.test(installOutput)) throw new Error(`installing ${vsix} failed:\n${installOutput.trim()}`);

  await provisionUserSettings(join(stateDir, 'user-data'));
  // The check sees what a new user sees first: no history left by an earlier start.
  if (args.check) await rm(join(stateDir, 'user-data', 'User', 'globalStorage', 'vram-guard.vram-guard', 'history'), { recursive: true, force: true });
  let port = args.port ? Number(args.port) : 8765;
  if (!args.port && !(await portIsFree(port))) port = await freePort();
  // A check is a test run: its reservations stay in a runtime folder of its own, not the user's.
  server = await startServer({ mode: 'code-server', stateDir, port, folder: workspace, env: {}, runtime: args.check ? 'private' : 'shared' });
  const url = `${server.url}/`;
  say('');
  say(`  VS Code ${install.vscodeVersion} with VRAM Guard is ready (${((Date.now() - t0) / 1000).toFixed(0)} s):`);
  say('');
  say(`      ${url}`);
  say('');
  say(`  workspace: ${workspace}`);
  say(`  server log: ${server.logFile} (pid ${server.pid})`);

  if (args.check) {
    await check(url, simulate);
    await shutdown();
    say('  check passed; stopped.');
    return;
  }
  say('  Press Ctrl-C to stop.');
  const exit = await server.process.exited;
  if (stopping) return;
  server = null;
  throw new Error(`the VS Code server exited on its own (${String(exit)}); see ${join(stateDir, 'server.log')}`);
}

async function portIsFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return await new Promise((resolvePort) => {
    const s = createServer();
    s.once('error', () => resolvePort(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolvePort(true)));
  });
}

stopEverythingOnExit(shutdown);
try {
  await main();
} catch (err) {
  process.stderr.write(`npm start: ${(err as Error).message}\n`);
  await shutdown();
  const left = descendantsOf(process.pid);
  if (left.length > 0) process.stderr.write(`  (stopping ${left.length} leftover process(es))\n`);
  process.exitCode = 1;
}
