/**
 * What each extension-host scenario needs before VS Code starts: workspace settings, environment
 * and the fake NVML's first state. The tests for each live in suite/scenarios.ts under the same name.
 * After the suite, the runner checks the notifications the page shows (`notifications`).
 */
import { existsSync } from 'node:fs';
import type { FakeState } from '../helpers/fake-nvml.ts';
import { emulatorCommand, freePort } from '../helpers/servers.ts';
import { fakeGpu, OLLAMA_TASK, SAMPLE_INTERVAL_MS } from './suite/scenarios.ts';

export interface SetupContext {
  fakeLibrary: string;
  fakeStatePath: string;
  workspace: string;
}

export interface Notification {
  severity: 'error' | 'warning' | 'info';
  text: string;
  /** "VRAM Guard (Extension)": who showed it, as VS Code labels it ("" when the page does not say). */
  source: string;
}

export interface ScenarioSetup {
  name: string;
  description: string;
  settings: (ctx: SetupContext) => Record<string, unknown>;
  env?: (ctx: SetupContext) => Record<string, string | undefined>;
  fakeState?: FakeState;
  /** Files to write into the workspace (path relative to it → content), e.g. `.vscode/tasks.json`. */
  workspaceFiles?: (ctx: SetupContext) => Promise<Record<string, string>>;
  /**
   * The workspace is trusted (the server runs with `--disable-workspace-trust`): model-server tasks
   * need it. Other scenarios run untrusted, as a folder opened for the first time does.
   */
  trusted?: boolean;
  /** Left out of a full run (a check of the tooling itself). */
  onlyWhenNamed?: boolean;
  /** Checks the notifications shown by the end of the run; returns a failure message or null. */
  notifications?: { title: string; check: (shown: Notification[]) => string | null };
}

/** Whether this machine has an NVIDIA driver (then "no GPU" has to be made, not found). */
const hasRealGpu = existsSync('/dev/nvidiactl');

const fakeSettings = (ctx: SetupContext) => ({
  'vramGuard.source': 'nvml',
  'vramGuard.nvmlLibraryPath': ctx.fakeLibrary,
  'vramGuard.sampleIntervalMs': SAMPLE_INTERVAL_MS,
  'vramGuard.adaptiveRate': { enabled: false, fastIntervalMs: 250, calmIntervalMs: 2000, margin: '5%' },
});

// VS Code names the extension under each notification; older texts also began with "VRAM Guard".
const ours = (n: Notification) => /VRAM Guard/i.test(n.source) || /VRAM Guard/i.test(n.text);

const list: ScenarioSetup[] = [
  {
    name: 'smoke',
    description: 'the test protocol itself (run only when named)',
    settings: () => ({}),
    onlyWhenNamed: true,
  },
  {
    name: 'fake-gpu',
    description: 'an 8 GiB GPU from the fake NVML library; the untrusted workspace tries to switch to a replayed GPU and move the thresholds',
    settings: fakeSettings,
    fakeState: fakeGpu(5.3),
    // Restricted settings: in this untrusted workspace they must have no effect (the last one is not
    // restricted: it shows the file is read); and it tries to open the exporter's listener (it must not be able to).
    workspaceFiles: async () => ({
      '.vscode/settings.json': JSON.stringify(
        {
          'vramGuard.source': 'replay',
          'vramGuard.replayFile': 'fake.jsonl',
          'vramGuard.thresholds': { warning: '10%', critical: '20%', emergency: '30%' },
          'vramGuard.hysteresis': '1%',
          'vramGuard.exporter.listen': `127.0.0.1:${await freePort()}`,
          'vramGuard.notifications.minIntervalSeconds': 301,
        },
        null,
        2,
      ),
    }),
  },
  {
    name: 'bad-thresholds',
    description: 'invalid vramGuard.thresholds with the fake GPU at 85 %',
    settings: (ctx) => ({ ...fakeSettings(ctx), 'vramGuard.thresholds': { warning: '95%', critical: '90%', emergency: 'lots' } }),
    fakeState: fakeGpu(6.8),
    notifications: {
      title: 'shows one warning about the thresholds',
      check: (shown) => {
        // Level notifications (the test fills the GPU) are not about settings.
        const mine = shown.filter((n) => ours(n) && /vramGuard\.\w/.test(n.text));
        if (mine.length !== 1) return `expected one notification about settings, saw ${mine.length}: ${JSON.stringify(mine)}`;
        if (!/thresholds/.test(mine[0]!.text)) return `the notification does not name the thresholds: ${mine[0]!.text}`;
        return null;
      },
    },
  },
  {
    name: 'no-gpu',
    description: hasRealGpu ? 'no GPU (a fake NVML whose init says the driver is not loaded)' : 'no NVML library and no nvidia-smi',
    settings: (ctx) =>
      hasRealGpu
        ? { 'vramGuard.source': 'nvml', 'vramGuard.nvmlLibraryPath': ctx.fakeLibrary }
        : { 'vramGuard.source': 'auto', 'vramGuard.nvidiaSmiPath': '/nonexistent/nvidia-smi' },
    fakeState: hasRealGpu ? { initRc: 9, devices: [] } : { devices: [] },
    notifications: {
      title: 'shows no error notification',
      check: (shown) => {
        const errors = shown.filter((n) => ours(n) && n.severity === 'error');
        return errors.length === 0 ? null : `error notifications shown: ${JSON.stringify(errors)}`;
      },
    },
  },
  {
    name: 'ollama-task',
    description: 'a vram-guard task in .vscode/tasks.json running the emulated Ollama, trusted workspace',
    settings: (ctx) => ({ ...fakeSettings(ctx), 'vramGuard.servers.stopTimeoutSeconds': 5 }),
    fakeState: fakeGpu(1.5),
    trusted: true,
    workspaceFiles: async (ctx) => {
      const port = await freePort();
      const task = {
        label: OLLAMA_TASK,
        type: 'vram-guard',
        server: 'ollama',
        command: emulatorCommand('ollama'),
        args: ['--port', String(port)],
        port,
        needs: '3GiB',
        startTimeoutSeconds: 20,
        // The emulator adds the VRAM of the models it loads to this fake NVML state.
        env: { FAKE_NVML_STATE: ctx.fakeStatePath },
      };
      return { '.vscode/tasks.json': JSON.stringify({ version: '2.0.0', tasks: [task] }, null, 2) };
    },
    notifications: {
      title: 'shows no error notification',
      check: (shown) => {
        const errors = shown.filter((n) => ours(n) && n.severity === 'error');
        return errors.length === 0 ? null : `error notifications shown: ${JSON.stringify(errors)}`;
      },
    },
  },
  {
    name: 'terminal-cli',
    description: 'vram-guard on the PATH of a shell task and an integrated terminal, against the fake GPU (trusted: tasks run)',
    settings: fakeSettings,
    fakeState: fakeGpu(5.3),
    trusted: true,
  },
  {
    name: 'fleet',
    description: 'the fleet: a workspace that names Prometheus URLs (ignored), then a user setting and a token',
    settings: fakeSettings,
    fakeState: fakeGpu(2),
    // A workspace may not point VRAM Guard at URLs: these must be ignored.
    workspaceFiles: async () => ({
      '.vscode/settings.json': JSON.stringify(
        { 'vramGuard.fleet.prometheus': 'http://127.0.0.1:9/', 'vramGuard.fleet.targets': ['http://127.0.0.1:9/metrics'] },
        null,
        2,
      ),
    }),
  },
];

export const scenarioSetups: Record<string, ScenarioSetup> = Object.fromEntries(list.map((s) => [s.name, s]));

/** The scenarios named, or every scenario that runs unless named. */
export function selectedScenarioNames(names: string[]): string[] {
  return names.length > 0
    ? names
    : Object.values(scenarioSetups)
        .filter((s) => !s.onlyWhenNamed)
        .map((s) => s.name);
}
