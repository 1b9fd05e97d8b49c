/**
 * `reduceContext` and `moveToCpu` on servers VRAM Guard did not start: those steps change a server's
 * arguments, which VRAM Guard does only for its tasks. On any other server they change nothing and
 * kill nothing (a real process stands for the server and is still running after the plan), and the
 * step says which option to change for that kind and which command restarts it (the stand-in
 * `systemctl` is never called).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { parseSteps } from '../../../src/core/servers/fallback-steps.ts';
import { isAlive } from '../../../src/core/servers/process-tree.ts';
import { outsideExecutor, recognised, type StandInSystemctl, standInSystemctl } from '../../helpers/outside-servers.ts';

let server: ChildProcess;
let systemctl: StandInSystemctl;
before(async () => {
  server = spawn('sleep', ['600'], { stdio: 'ignore' });
  systemctl = await standInSystemctl();
});
after(() => {
  server?.kill('SIGKILL');
});

const step = (raw: Record<string, unknown>) => parseSteps([raw], 'test').steps[0]!;

async function reason(raw: Record<string, unknown>, r: Parameters<typeof recognised>[0]): Promise<string> {
  const plan = await outsideExecutor([recognised(r)], { systemctl: { program: systemctl.program } }).plan(step({ trigger: 'critical', ...raw }), 0);
  assert.equal(plan.ok, false);
  return plan.ok ? '' : plan.reason;
}

test('reduceContext on a llama-server in a user unit: nothing changed; says to lower -c and restart the unit with systemctl --user', async () => {
  const pid = server.pid!;
  const why = await reason(
    { action: 'reduceContext', target: 'llama-server' },
    { pid, kind: 'llama-server', model: 'qwen2.5-7b-q4_k_m.gguf', unit: { name: 'llm.service', scope: 'user' } },
  );
  assert.match(
    why,
    new RegExp(
      `llama-server \\(PID ${pid}, llm\\.service\\) was started outside VRAM Guard, which does not change its arguments: nothing was changed\\. To move it to a smaller context, start it with a smaller -c \\(--ctx-size\\); change it with \`systemctl --user edit llm\\.service\`, then run \`systemctl --user restart llm\\.service\``,
    ),
  );
  assert.ok(isAlive(pid));
  assert.deepEqual(await systemctl.calls(), []);
});

test('reduceContext on Ollama as a system service: says OLLAMA_CONTEXT_LENGTH and the sudo systemctl commands', async () => {
  const why = await reason(
    { action: 'reduceContext', target: 'ollama' },
    { pid: server.pid!, kind: 'ollama', role: 'serve', unit: { name: 'ollama.service', scope: 'system' } },
  );
  assert.match(why, /OLLAMA_CONTEXT_LENGTH lower .*; change it with `sudo systemctl edit ollama\.service`, then run `sudo systemctl restart ollama\.service`$/);
  assert.deepEqual(await systemctl.calls(), []);
});

test('moveToCpu on a faster-whisper in no unit: nothing killed; says WHISPER__INFERENCE_DEVICE=cpu and to restart it where it was started', async () => {
  const pid = server.pid!;
  const why = await reason({ action: 'moveToCpu', target: 'whisper' }, { pid, kind: 'faster-whisper' });
  assert.match(
    why,
    new RegExp(
      `To move it to the CPU, start it with WHISPER__INFERENCE_DEVICE=cpu \\(speaches\\), or device="cpu" in its WhisperModel; restart it where it was started \\(PID ${pid}\\)$`,
    ),
  );
  assert.ok(isAlive(pid), 'the process VRAM Guard did not start is left running');
});

test('moveToCpu on whisper.cpp in a user unit says -ng; on vLLM, that it has no CPU switch', async () => {
  const whisper = await reason(
    { action: 'moveToCpu', target: 'whisper' },
    { pid: server.pid!, kind: 'whisper-cpp', unit: { name: 'whisper.service', scope: 'user' } },
  );
  assert.match(
    whisper,
    /start it with -ng \(--no-gpu\); change it with `systemctl --user edit whisper\.service`, then run `systemctl --user restart whisper\.service`$/,
  );
  const vllm = await reason({ action: 'moveToCpu', target: 'vllm' }, { pid: server.pid!, kind: 'vllm' });
  assert.match(
    vllm,
    /was started outside VRAM Guard, which cannot move a vllm to the CPU: nothing was changed \(an unloadModel, restartServer or stopServer step can act on it\)$/,
  );
  assert.deepEqual(await systemctl.calls(), []);
});
