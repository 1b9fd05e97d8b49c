/**
 * End-to-end harness for the server tests: the fake NVML library loaded through the real NVML
 * source, a state file the emulated servers write their VRAM into, a registry with a GPU lock, and
 * `vram-guard` tasks that run the emulators as real child processes. `dispose` stops everything.
 */
import { openNvml, type NvmlSource } from '../../src/core/gpu/nvml-source.ts';
import type { GpuDevice } from '../../src/core/gpu/types.ts';
import { GpuLock } from '../../src/core/servers/gpu-lock.ts';
import { ManagedServer } from '../../src/core/servers/managed-server.ts';
import { ServerRegistry } from '../../src/core/servers/server-registry.ts';
import { validateTaskDefinition } from '../../src/core/servers/task-definition.ts';
import { preflightGate } from '../../src/core/checks/preflight-gate.ts';
import type { FootprintStore } from '../../src/core/estimate/measured-footprints.ts';
import type { ReservationBook } from '../../src/core/servers/reservations.ts';
import { parseSize, type SizeSpec } from '../../src/core/units.ts';
import { parseThresholds } from '../../src/core/watch/thresholds.ts';
import { buildFakeNvml, FakeNvmlState, GiB, MiB, type FakeState } from './fake-nvml.ts';
import { emulatorCommand, freePort, PidRegister, type EmulatorKind } from './servers.ts';

export const baseGpu = (over: Partial<FakeState['devices'][number]> = {}): FakeState['devices'][number] => ({
  name: 'NVIDIA GeForce RTX 3070',
  uuid: 'GPU-00000000-1111-2222-3333-444444444444',
  total: 8 * GiB,
  used: 1464 * MiB,
  reserved: 0,
  persistence: 1,
  processes: [{ pid: 1187, kind: 'graphics', used: 1464 * MiB, name: 'Xorg' }],
  ...over,
});

export class ServerHarness {
  readonly fake: FakeNvmlState;
  readonly source: NvmlSource;
  readonly registry = new ServerRegistry();
  readonly lock = new GpuLock();
  readonly pids = new PidRegister();
  readonly logs = new Map<string, string[]>();
  stopTimeoutMs = 2000;
  margin = parseSize('256MiB') as SizeSpec;
  /** Shared reservations and remembered footprints for the gates of the tasks made after they are set. */
  reservations: ReservationBook | undefined;
  footprints: FootprintStore | undefined;
  /** The environment the gate reads LLAMA_ARG_* / OLLAMA_* from (default: none, so the tests do not depend on the runner's). */
  gateEnv: NodeJS.ProcessEnv = {};
  /** Ask the task's llama-fit-params (found beside its llama-server) from the gate, as a trusted workspace does. */
  askLlamaFit = false;
  readonly gateLog: string[] = [];

  private constructor(fake: FakeNvmlState, source: NvmlSource) {
    this.fake = fake;
    this.source = source;
  }

  /** One process can load one fake library: every harness in a test file shares it. */
  static async create(state: FakeState = { devices: [baseGpu()] }): Promise<ServerHarness> {
    const lib = await buildFakeNvml();
    const fake = await FakeNvmlState.create(state);
    process.env.FAKE_NVML_STATE = fake.path;
    const opened = await openNvml({ libraryPath: lib, platform: 'darwin' });
    if (!opened.ok) throw new Error(opened.reason);
    return new ServerHarness(fake, opened.source);
  }

  async device(gpu = 0): Promise<GpuDevice | null> {
    return (await this.source.sample(Date.now())).devices[gpu] ?? null;
  }

  async used(gpu = 0): Promise<number> {
    return (await this.device(gpu))?.memory?.used ?? 0;
  }

  /** A `vram-guard` task running an emulator; `definition` adds to or overrides the generated one. */
  async task(name: string, kind: EmulatorKind, args: string[], definition: Record<string, unknown> = {}): Promise<ManagedServer> {
    const port = await freePort();
    const server = kind === 'whisper-cpp' ? 'whisper-cpp' : kind;
    const raw = {
      type: 'vram-guard',
      server,
      command: emulatorCommand(kind),
      args: [...args, '--port', String(port)],
      port,
      startTimeoutSeconds: 15,
      ...definition,
    };
    const v = validateTaskDefinition(raw, name);
    if (!v.ok) throw new Error(v.problems.join('\n'));
    const s = new ManagedServer(v.task, {
      readGpu: async () => ({ ok: true, sample: await this.source.sample(Date.now()), description: 'fake NVML' }),
      gate: preflightGate(() => ({
        margin: this.margin,
        residualThreshold: parseSize('100MiB') as SizeSpec,
        thresholds: parseThresholds({ warning: '6144MiB', critical: '7168MiB', emergency: '7782MiB' }, '2%').spec,
        platform: 'linux',
        reservations: this.reservations,
        footprints: this.footprints,
        env: this.gateEnv,
        askLlamaFit: this.askLlamaFit,
        log: (m) => this.gateLog.push(m),
      })),
      lock: this.lock,
      stopTimeoutMs: this.stopTimeoutMs,
      healthIntervalMs: 25,
      settle: { intervalMs: 50, stableReads: 3, timeoutMs: 5000 },
    });
    const log: string[] = [];
    this.logs.set(name, log);
    s.on('log', (m) => log.push(m));
    s.on('state', (st) => {
      if (st === 'ready') this.pids.add(s.pid);
    });
    this.registry.add(s);
    return s;
  }

  async dispose(): Promise<void> {
    for (const s of this.registry.all()) this.pids.add(s.pid);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.registry.stopAll('test finished'), new Promise((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
    this.pids.killAll();
  }
}
