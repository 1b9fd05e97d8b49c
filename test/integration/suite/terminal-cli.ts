/**
 * The "terminal-cli" scenario: `vram-guard` on the PATH of a shell task and of an integrated
 * terminal, run against the fake NVML, with nothing installed; and gone when the setting is off.
 */
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil } from '../../helpers/servers.ts';
import { activatedExtension, settled, vscodeApi } from './extension.ts';

const GiB = 1024 ** 3;

const q = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** What a person would type: status and preflight, each output and exit code into files. */
async function commandLine(): Promise<{ line: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'vram-guard-terminal-'));
  const lib = process.env.VRAM_GUARD_TEST_FAKE_LIBRARY;
  assert.ok(lib, 'VRAM_GUARD_TEST_FAKE_LIBRARY is not set: the runner must start VS Code with it');
  const f = (name: string) => q(join(dir, name));
  const line = [
    `vram-guard status --json --nvml-library ${q(lib)} > ${f('status.json')} 2> ${f('status.err')}`,
    `echo $? > ${f('status.rc')}`,
    `vram-guard preflight --need 1GiB --json --nvml-library ${q(lib)} > ${f('preflight.json')} 2> ${f('preflight.err')}`,
    `echo $? > ${f('preflight.rc')}`,
    `printf %s "$VRAM_GUARD_STATE_DIR" > ${f('state-dir')}`,
    `touch ${f('done')}`,
  ].join('; ');
  return { line, dir };
}

/** The environment a test adds: only the fake's state file (PATH comes from the extension). */
const fakeEnv = () => ({ FAKE_NVML_STATE: process.env.FAKE_NVML_STATE ?? '' });

async function checkResults(dir: string): Promise<void> {
  const read = (name: string) => readFile(join(dir, name), 'utf8');
  const statusRc = (await read('status.rc')).trim();
  assert.equal(statusRc, '0', `vram-guard status exited ${statusRc}: ${await read('status.err')}`);
  const status = JSON.parse(await read('status.json'));
  assert.equal(status.source, 'nvml');
  assert.equal(status.devices[0].name, 'NVIDIA GeForce RTX 3070 (fake)');
  assert.equal(status.devices[0].memory.total, 8 * GiB);
  assert.equal(status.devices[0].memory.used, Math.round(5.3 * GiB));
  const preflightRc = (await read('preflight.rc')).trim();
  assert.equal(preflightRc, '0', `vram-guard preflight exited ${preflightRc}: ${await read('preflight.err')}`);
  const preflight = JSON.parse(await read('preflight.json'));
  assert.equal(preflight.need.bytes, GiB);
  assert.notEqual(preflight.verdict, 'fail');
  const stateDir = await read('state-dir');
  assert.match(stateDir, /globalStorage[\\/]vram-guard\.vram-guard$/, `VRAM_GUARD_STATE_DIR in the terminal: "${stateDir}"`);
}

export function terminalCliChecks(): void {
  describe('vram-guard in terminals and tasks', () => {
    before(async () => {
      const { api } = await activatedExtension();
      await settled(api);
      const launcher = await api.cliLauncher();
      assert.ok(launcher && existsSync(launcher), `no launcher: ${launcher}`);
    });

    it('a shell task runs vram-guard status --json and preflight --need 1GiB against the GPU', async () => {
      const vscode = await vscodeApi();
      const { line, dir } = await commandLine();
      const task = new vscode.Task(
        { type: 'shell' },
        vscode.TaskScope.Workspace,
        'vram-guard from a task',
        'vram-guard-test',
        new vscode.ShellExecution(line, { env: fakeEnv() }),
      );
      await vscode.tasks.executeTask(task);
      await pollUntil(() => existsSync(join(dir, 'done')) || null, 'the task to finish', 30_000, 100);
      await checkResults(dir);
    });

    it('an integrated terminal runs the same commands', async () => {
      const vscode = await vscodeApi();
      const { line, dir } = await commandLine();
      const terminal = vscode.window.createTerminal({ name: 'vram-guard test', env: fakeEnv() });
      try {
        terminal.sendText(line);
        await pollUntil(() => existsSync(join(dir, 'done')) || null, 'the terminal to run the commands', 30_000, 100);
        await checkResults(dir);
      } finally {
        terminal.dispose();
      }
    });

    it('vramGuard.terminal.cli off: new terminals have no vram-guard', async () => {
      const vscode = await vscodeApi();
      const { api } = await activatedExtension();
      await vscode.workspace.getConfiguration('vramGuard').update('terminal.cli', false, vscode.ConfigurationTarget.Global);
      try {
        await pollUntil(async () => ((await api.cliLauncher()) === null ? true : null), 'the launcher to be withdrawn', 5000, 50);
        const dir = await mkdtemp(join(tmpdir(), 'vram-guard-terminal-off-'));
        const terminal = vscode.window.createTerminal({ name: 'vram-guard off', env: fakeEnv() });
        try {
          terminal.sendText(
            `command -v vram-guard > ${q(join(dir, 'which'))}; echo $? > ${q(join(dir, 'rc'))}; printf %s "$VRAM_GUARD_STATE_DIR" > ${q(join(dir, 'state-dir'))}; touch ${q(join(dir, 'done'))}`,
          );
          await pollUntil(() => existsSync(join(dir, 'done')) || null, 'the terminal to run the command', 30_000, 100);
        } finally {
          terminal.dispose();
        }
        assert.equal((await readFile(join(dir, 'rc'), 'utf8')).trim(), '1', `vram-guard still found: ${await readFile(join(dir, 'which'), 'utf8')}`);
        assert.equal(await readFile(join(dir, 'state-dir'), 'utf8'), '');
      } finally {
        await vscode.workspace.getConfiguration('vramGuard').update('terminal.cli', undefined, vscode.ConfigurationTarget.Global);
      }
    });
  });
}
