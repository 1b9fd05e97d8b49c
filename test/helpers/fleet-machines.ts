/**
 * The three "machines" of the fleet tests: two VRAM Guard exporters over different fake-NVML
 * states, and one host served by an emulated dcgm-exporter. Tests take their expected figures
 * from here (and from the fake state files), never from the code under test.
 *
 *   gpu-desk  RTX 3070 8 GiB, the desktop (Xorg 1140 MiB, gnome-shell 324 MiB) and a llama-server
 *             task "llama-chat" that loads 2000 MiB of weights + 512 MiB KV (-c 4096) + 100 MiB
 *             compute = 2612 MiB → 4076 MiB used of 8192: OK.
 *   gpu-lab   RTX 4090 24 GiB with a python training run holding 22000 MiB (+ 180 MiB unowned
 *             residual) → 22180 MiB of 24564: CRITICAL by the default thresholds (90 %);
 *             RTX 3090 24 GiB with 2048 MiB (a Jupyter kernel): OK.
 *   dgx-a100  dcgm-exporter, 2 × A100-SXM4-80GB: GPU 0 40125 MiB used, GPU 1 1024 MiB used.
 */
import type { DcgmHost } from '../fixtures/dcgm-exporter/dcgm-exporter.ts';
import { desktopRtx3070, GiB, MiB, type FakeState } from './fake-nvml.ts';

export interface ExporterMachine {
  hostname: string;
  /** The fake NVML state it starts from (emulated servers add their own processes). */
  state: FakeState;
  /** A model-server task to start and attribute, if any. */
  server?: { name: string; kind: 'llama-server'; args: string[]; expectedMiB: number };
}

export const GPU_DESK: ExporterMachine = {
  hostname: 'gpu-desk',
  state: desktopRtx3070(),
  server: {
    name: 'llama-chat',
    kind: 'llama-server',
    args: ['-m', 'models/qwen2.5-3b-instruct-q4_k_m.gguf', '-c', '4096', '-ngl', '99', '--weights-mib', '2000', '--kv-mib-per-1k', '128'],
    expectedMiB: 2000 + 512 + 100,
  },
};

export const GPU_LAB: ExporterMachine = {
  hostname: 'gpu-lab',
  state: {
    driver: '560.35.03',
    nvmlVersion: '12.560.35.03',
    devices: [
      {
        name: 'NVIDIA GeForce RTX 4090',
        uuid: 'GPU-4090aaaa-1111-2222-3333-444455556666',
        total: 24564 * MiB,
        used: 22180 * MiB,
        reserved: 0,
        processes: [{ pid: 31337, used: 22000 * MiB, name: 'python3', kind: 'compute' }],
      },
      {
        name: 'NVIDIA GeForce RTX 3090',
        uuid: 'GPU-3090bbbb-1111-2222-3333-444455556666',
        total: 24 * GiB,
        used: 2048 * MiB,
        reserved: 0,
        processes: [{ pid: 31400, used: 2048 * MiB, name: 'jupyter-kernel', kind: 'compute' }],
      },
    ],
  },
};

const a100 = (index: number, usedMiB: number, util: number) => ({
  index,
  uuid: `GPU-a100cccc-0000-4000-8000-00000000000${index}`,
  pciBusId: `00000000:${(7 + index * 8).toString(16).padStart(2, '0').toUpperCase()}:00.0`,
  modelName: 'NVIDIA A100-SXM4-80GB',
  fbUsedMiB: usedMiB,
  fbReservedMiB: 595,
  fbFreeMiB: 81920 - 595 - usedMiB,
  gpuUtil: util,
  gpuTempC: 41 + index,
  memoryTempC: 48 + index,
  powerW: 212.5 + index,
  smClockMHz: 1410,
  memClockMHz: 1593,
  energyMj: 987_654_321 + index,
});

export const DGX_A100: DcgmHost = {
  hostname: 'dgx-a100',
  driverVersion: '550.90.07',
  gpus: [a100(0, 40125, 87), a100(1, 1024, 0)],
};
