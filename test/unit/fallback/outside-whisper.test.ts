/**
 * `unloadModel` on a faster-whisper server VRAM Guard did not start (speaches as a user service, the
 * field notes' speech daemon): the real faster-whisper emulator, recognised as the recogniser gives
 * it, is asked through its own API (`GET /api/ps`, `DELETE /api/ps/{id}`) at the port it listens on;
 * its unit is left alone.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { parseSteps } from '../../../src/core/servers/fallback-steps.ts';
import { getJson } from '../../../src/core/servers/http.ts';
import { outsideExecutor, recognised, standInSystemctl } from '../../helpers/outside-servers.ts';
import { emulatorCommand } from '../../helpers/servers.ts';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** The faster-whisper emulator on port 0; resolves with its PID and port. */
function speaches(args: string[]): Promise<{ pid: number; port: number }> {
  const [node, script] = emulatorCommand('faster-whisper') as [string, string];
  const child = spawn(node, [script, '--port', '0', ...args], { env: { ...process.env, FAKE_NVML_STATE: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let seen = '';
    child.once('exit', (code) => reject(new Error(`the faster-whisper emulator exited with ${code}: ${seen}`)));
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (m && /Uvicorn running/.test(seen)) resolve({ pid: child.pid!, port: Number(m[1]) });
    });
  });
}

const step = (raw: Record<string, unknown>) => parseSteps([{ trigger: 'critical', ...raw }], 'test').steps[0]!;

test('unloadModel on speaches.service (a user unit, started outside VRAM Guard) unloads its model through /api/ps; the unit is left alone', async () => {
  const { pid, port } = await speaches(['--model', 'Systran/faster-distil-whisper-large-v3=1116', '--preload', 'Systran/faster-distil-whisper-large-v3']);
  const systemctl = await standInSystemctl();
  const r = recognised({ pid, kind: 'faster-whisper', ports: [port], unit: { name: 'speaches.service', scope: 'user' } });
  const plan = await outsideExecutor([r], { systemctl: { program: systemctl.program } }).plan(step({ action: 'unloadModel', target: 'whisper' }), 0);
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  assert.equal(
    plan.description,
    `unload Systran/faster-distil-whisper-large-v3 from faster-whisper at http://127.0.0.1:${port} (speaches.service), started outside VRAM Guard`,
  );
  assert.equal(await plan.run(), 'unloaded Systran/faster-distil-whisper-large-v3');
  assert.deepEqual((await getJson(`http://127.0.0.1:${port}/api/ps`)).json, { models: [] });
  assert.deepEqual(await systemctl.calls(), []);
});

test('unloadModel on a faster-whisper with nothing loaded: skipped, saying so and what can act on it instead', async () => {
  const { pid, port } = await speaches([]);
  const r = recognised({ pid, kind: 'faster-whisper', ports: [port] });
  const plan = await outsideExecutor([r]).plan(step({ action: 'unloadModel', target: 'whisper' }), 0);
  assert.equal(plan.ok, false);
  assert.match(
    plan.ok ? '' : plan.reason,
    new RegExp(`faster-whisper at http://127\\.0\\.0\\.1:${port} has no model loaded .*a stopServer or restartServer step can act on its unit`),
  );
});
