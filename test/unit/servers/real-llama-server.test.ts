/**
 * The real llama.cpp `llama-server` (the CPU build `npm run setup:llama` makes) where the emulator
 * used to stand in: a `vram-guard` task started through the gate, `/health` while the model loads,
 * `/props` as the adapter reads it, the reduce-context step and the load report. The model is a tiny
 * generated GGUF (a Llama shape, 8 layers, zero weights) that loads in a fraction of a second.
 *
 * A CPU build allocates nothing on a GPU, so NVML cannot see it by itself. Where a test needs the
 * server's memory in NVML (the measured footprint), the fake NVML's process list is given the real
 * server's PID and the buffer sizes it printed while loading (`-v`): what a CUDA build of the same
 * llama.cpp allocates on the GPU for those buffers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FootprintStore } from '../../../src/core/estimate/measured-footprints.ts';
import { parseSteps } from '../../../src/core/servers/fallback-steps.ts';
import { ServerExecutor } from '../../../src/core/fallback/server-executor.ts';
import { llamaServerAdapter } from '../../../src/core/servers/kinds/llama-server.ts';
import type { ManagedServer } from '../../../src/core/servers/managed-server.ts';
import { MiB } from '../../../src/core/units.ts';
import { printedBufferMiB, privateDir, realLlama, realLoadLog, startRealLlamaServer, tinyLlamaModel } from '../../helpers/real-llama-server.ts';
import { baseGpu, ServerHarness } from '../../helpers/server-harness.ts';
import { pollUntil } from '../../helpers/servers.ts';

let h: ServerHarness;
let model: string;
let dir: string;
let server: string;

before(async () => {
  server = realLlama().server;
  h = await ServerHarness.create({ devices: [baseGpu()] });
  model = await tinyLlamaModel('tiny-llama-real', 32768);
  dir = await privateDir();
});
after(async () => {
  await h?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const logOf = (name: string) => (h.logs.get(name) ?? []).join('\n');

/** A task running the real llama-server with `args` (the harness adds --port). */
function realTask(name: string, args: string[], definition: Record<string, unknown> = {}): Promise<ManagedServer> {
  return h.task(name, 'llama-server', ['--host', '127.0.0.1', ...args], { command: [server], startTimeoutSeconds: 60, ...definition });
}

/** Everything the task's server printed, as lines. */
function outputOf(s: ManagedServer): () => string[] {
  let text = '';
  s.on('output', (chunk) => {
    text += chunk.toString();
  });
  return () => text.split('\n');
}

describe('the real llama-server', () => {
  it('/health answers 503 "Loading model" while the model loads; a load that fails ends the start with llama.cpp\'s own lines', async () => {
    // The model path is a FIFO: llama.cpp's open of it blocks until a writer comes, so the server is
    // held in its loading state (its HTTP side already answering) for as long as the test needs.
    const fifo = join(dir, 'held.gguf');
    await new Promise<void>((resolve, reject) =>
      spawn('mkfifo', [fifo], { stdio: 'ignore' }).once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mkfifo exited with ${code}`)))),
    );
    const s = await realTask('loading', ['-m', fifo, '-c', '4096'], { needs: '1GiB' });
    const started = s.start();
    const report = await pollUntil(
      async () => {
        if (!s.baseUrl) return null;
        const r = await llamaServerAdapter.report(s.baseUrl).catch(() => null);
        return r?.reachable ? r : null;
      },
      'the server to answer while loading',
      30_000,
    );
    assert.equal(report.healthy, false);
    assert.equal(report.error, 'health answered HTTP 503: Loading model');
    const raw = await fetch(`${s.baseUrl}/health`);
    assert.equal(raw.status, 503);
    assert.deepEqual(await raw.json(), { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
    assert.equal(s.state, 'starting', 'the task waits while the server loads');
    // A writer comes and goes each time llama.cpp opens the file (its --fit pass, then the load): the
    // open returns, the read finds no model (a FIFO has no size to check the header against), the load
    // fails and the server exits. Non-blocking opens: ENXIO while nobody has it open for reading.
    let done = false;
    void started.finally(() => (done = true));
    await pollUntil(
      async () => {
        const writer = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => null);
        await writer?.close();
        return done;
      },
      'the failed load to end the start',
      30_000,
    );
    const r = await started;
    assert.equal(r.ok, false);
    assert.match(logOf('loading'), /exiting due to model loading error|failed to load model/);
  });

  it('a task started through the gate: sized from the GGUF, ready on /health 200, /props read by the adapter, its footprint measured', async () => {
    h.footprints = new FootprintStore(dir);
    try {
      const s = await realTask('real-llama', ['-m', model, '-c', '4096', '-v']);
      const lines = outputOf(s);
      s.on('state', (st) => {
        if (st !== 'ready' || !s.pid) return;
        // What the CPU build printed it allocated, given to the fake NVML as the server's process.
        const used = Math.round(printedBufferMiB(lines()) * MiB);
        void h.fake.write({
          devices: [
            baseGpu({
              used: 1464 * MiB + used,
              processes: [
                { pid: 1187, kind: 'graphics', used: 1464 * MiB, name: 'Xorg' },
                { pid: s.pid, kind: 'compute', used, name: 'llama-server' },
              ],
            }),
          ],
        });
      });
      const r = await s.start();
      assert.ok(r.ok, logOf('real-llama'));
      assert.match(logOf('real-llama'), /VRAM gate: PASS/);
      assert.match(logOf('real-llama'), /Estimated need: .*Settings from the task's arguments: -m \S+ -c 4096\./);

      const props = await llamaServerAdapter.report(s.baseUrl!);
      assert.equal(props.healthy, true);
      assert.equal(props.contextLength, 4096);
      assert.deepEqual(props.models, [{ name: model, vramBytes: null, contextLength: 4096 }]);

      await pollUntil(() => logOf('real-llama').includes('Measured footprint'), 'the footprint to be measured', 15_000, 50);
      const printed = Math.round(printedBufferMiB(lines()));
      assert.match(logOf('real-llama'), new RegExp(`Measured footprint: ${printed} MiB \\(NVML, the server's processes, settled\\)`));
      await s.stop('test');
      const gone = await llamaServerAdapter.report(s.baseUrl!);
      assert.equal(gone.reachable, false);
    } finally {
      h.footprints = undefined;
      await h.fake.write({ devices: [baseGpu()] });
    }
  });

  it('the reduce-context step restarts it with the next smaller -c, and /props says so', async () => {
    const s = await realTask('real-reduce', ['-m', model, '-c', '8192'], { fallback: { contextSizes: [8192, 4096, 2048] } });
    assert.ok((await s.start()).ok, logOf('real-reduce'));
    assert.equal((await llamaServerAdapter.report(s.baseUrl!)).contextLength, 8192);
    const pid = s.pid;
    const [reduce] = parseSteps([{ action: 'reduceContext', target: 'real-reduce' }], 'test').steps;
    const plan = await new ServerExecutor({ registry: h.registry, isTrusted: () => true }).plan(reduce!, 0);
    assert.ok(plan.ok, plan.ok ? '' : plan.reason);
    await plan.run();
    assert.notEqual(s.pid, pid, 'a new process');
    assert.ok(s.commandLine().args.join(' ').includes('-c 4096'), s.commandLine().args.join(' '));
    assert.equal((await llamaServerAdapter.report(s.baseUrl!)).contextLength, 4096);
    await s.stop('test');
  });

  it('its load report (-v) is captured: the buffers and the memory breakdown as this llama.cpp prints them', async () => {
    const log = await realLoadLog(model, ['-c', '4096', '-np', '1'], join(dir, 'tiny-llama-load.log'));
    const text = log.lines.join('\n');
    assert.match(text, /load_tensors: +CPU_Mapped model buffer size = +\d+\.\d\d MiB/);
    assert.match(text, /llama_kv_cache: +CPU KV buffer size = +32\.00 MiB/);
    assert.match(text, /sched_reserve: +CPU compute buffer size = +\d+\.\d\d MiB/);
    assert.match(text, /common_memory_breakdown_print: \| memory breakdown \[MiB\]/);
  });

  it('started on --port 0, its port is read from the kernel before the model has loaded', async () => {
    const r = await startRealLlamaServer(['-m', model, '-c', '2048']);
    try {
      assert.ok(r.port > 0);
      await r.ready();
      // /health answers 200 from the HTTP thread; the main thread's "listening" line may reach the pipe after it.
      const named = await pollUntil(
        () => r.lines.map((l) => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(l)?.[1]).find((p) => p !== undefined),
        'llama-server to print the address it listens on',
        10_000,
      );
      assert.equal(Number(named), r.port, 'llama-server names the same port once loaded');
    } finally {
      await r.stop();
    }
  });
});
