/**
 * Fallback latency: the time from the sample that crosses a trigger (handed to the chain) to the
 * step's request being sent — here Ollama's unload (`POST /api/generate` with `keep_alive: 0`), to
 * an emulated Ollama running as its own process. Target: ≤ 50 ms.
 *
 *   node bench/fallback-latency.ts        prints the median and the samples
 */
import { FallbackChain } from '../src/core/fallback/chain.ts';
import { ServerExecutor } from '../src/core/fallback/server-executor.ts';
import { parseSteps } from '../src/core/servers/fallback-steps.ts';
import { emptyDevice } from '../src/core/gpu/types.ts';
import { GpuLock } from '../src/core/servers/gpu-lock.ts';
import { postJson } from '../src/core/servers/http.ts';
import { ManagedServer } from '../src/core/servers/managed-server.ts';
import { ServerRegistry } from '../src/core/servers/server-registry.ts';
import { validateTaskDefinition } from '../src/core/servers/task-definition.ts';
import { simpleGate } from '../src/core/servers/vram-gate.ts';
import { GiB, MiB } from '../src/core/units.ts';
import { parseThresholds, resolveThresholds } from '../src/core/watch/thresholds.ts';
import type { WatchedSample } from '../src/core/watch/watcher.ts';
import { emulatorCommand, freePort } from '../test/helpers/servers.ts';

const SAMPLES = 30;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function measureFallbackLatency(): Promise<{ medianMs: number; samples: number }> {
  const port = await freePort();
  const v = validateTaskDefinition(
    { type: 'vram-guard', server: 'ollama', command: emulatorCommand('ollama'), args: ['--model', 'llama3.2:3b=2000:112'], port, needs: '2GiB' },
    'ollama',
  );
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const server = new ManagedServer(v.task, {
    readGpu: async () => ({ ok: false, reason: 'not needed for this measurement' }),
    gate: simpleGate(0),
    lock: new GpuLock(),
    stopTimeoutMs: 2000,
    healthIntervalMs: 20,
  });
  const registry = new ServerRegistry();
  registry.add(server);
  // Without FAKE_NVML_STATE the emulator allocates nothing: only the HTTP path is measured.
  const env = { ...process.env };
  delete process.env.FAKE_NVML_STATE;
  try {
    const started = await server.start({ skipGate: true });
    if (!started.ok) throw new Error(started.message);
    let sentAt = 0;
    const timedFetch: typeof fetch = (input, init) => {
      if (init?.method === 'POST' && typeof init.body === 'string' && init.body.includes('"keep_alive":0')) sentAt = performance.now();
      return fetch(input, init);
    };
    const total = 8 * GiB;
    const thresholds = resolveThresholds(parseThresholds({ warning: '80%', critical: '90%', emergency: '95%' }, '2%').spec, total).thresholds;
    const { steps } = parseSteps([{ action: 'unloadModel', target: 'ollama', trigger: 'critical', mode: 'auto' }], 'bench');
    const chain = new FallbackChain({
      steps: () => steps,
      mode: () => 'auto',
      executor: new ServerExecutor({ registry, isTrusted: () => true, fetch: timedFetch }),
      readUsed: async () => 7000 * MiB,
      confirm: async () => true,
      cooldownMs: 0,
      settleIntervalMs: 1,
      settleTimeoutMs: 50,
    });
    const crossing = (): WatchedSample => {
      const d = emptyDevice(0);
      d.memory = { total, used: 7500 * MiB, free: total - 7500 * MiB, reserved: 0 };
      return {
        sample: { source: 'nvml', timestamp: Date.now(), driverVersion: null, sourceVersion: null, devices: [d] },
        levels: ['critical'],
        thresholds: [thresholds],
      };
    };
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES + 3; i++) {
      await postJson(`${server.baseUrl}/api/generate`, { model: 'llama3.2:3b', prompt: 'hi', stream: false });
      sentAt = 0;
      const t0 = performance.now();
      chain.onSample(crossing());
      await chain.idle();
      if (!sentAt) throw new Error(`the chain sent no unload request: ${chain.events.at(-1)?.message ?? 'no event'}`);
      if (i >= 3) latencies.push(sentAt - t0); // the first runs warm up the JIT and the connection pool
    }
    return { medianMs: median(latencies), samples: latencies.length };
  } finally {
    process.env.FAKE_NVML_STATE = env.FAKE_NVML_STATE;
    if (env.FAKE_NVML_STATE === undefined) delete process.env.FAKE_NVML_STATE;
    await server.stop('benchmark finished');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await measureFallbackLatency();
  console.log(
    `fallback latency (trigger sample → step request sent): ${r.medianMs.toFixed(2)} ms median over ${r.samples} samples (target ≤ 50 ms) ${r.medianMs <= 50 ? 'met' : 'NOT met'}`,
  );
}
