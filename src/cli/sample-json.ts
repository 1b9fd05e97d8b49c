/** The CLI's JSON shape for a sample: stable, documented in docs/cli.md. */
import type { GpuDevice, GpuSample } from '../core/gpu/types.ts';
import type { Level } from '../core/watch/levels.ts';

export function deviceJson(d: GpuDevice, level: Level | null) {
  return {
    index: d.index,
    name: d.name,
    uuid: d.uuid,
    memory: d.memory && { total: d.memory.total, used: d.memory.used, free: d.memory.free, reserved: d.memory.reserved },
    utilization: { gpu: d.utilization.gpu, memory: d.utilization.memory },
    temperatureC: d.temperatureC,
    powerW: d.powerW,
    persistenceMode: d.persistenceMode,
    level,
    error: d.error && { code: d.error.code, message: d.error.message },
    processes: d.processes.map((p) => ({ pid: p.pid, name: p.name, usedBytes: p.usedBytes })),
  };
}

export function sampleJson(sample: GpuSample, levels: ReadonlyArray<Level | null>) {
  return {
    source: sample.source,
    driverVersion: sample.driverVersion,
    devices: sample.devices.map((d, i) => deviceJson(d, d.memory ? (levels[i] ?? null) : null)),
  };
}
