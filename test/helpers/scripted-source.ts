/** A GPU source that plays used-memory figures the test gives it, for watcher tests. */
import type { GpuSample, GpuSource } from '../../src/core/gpu/types.ts';
import { emptyDevice } from '../../src/core/gpu/types.ts';

export class ScriptedSource implements GpuSource {
  readonly kind = 'nvml' as const;
  readonly description = 'scripted test source';
  used: number[];
  total: number;
  /** When set, sample() throws it. */
  failWith: Error | null = null;
  samples = 0;
  disposed = false;
  /** When set, sample() waits for this promise (to test that ticks never overlap). */
  gate: Promise<void> | null = null;

  constructor(total: number, used: number[]) {
    this.total = total;
    this.used = used;
  }

  async sample(timestamp: number): Promise<GpuSample> {
    this.samples++;
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    const devices = this.used.map((used, index) => {
      const d = emptyDevice(index);
      d.name = 'Test GPU';
      d.uuid = `GPU-test-${index}`;
      d.memory = { total: this.total, used, free: this.total - used, reserved: 0 };
      return d;
    });
    return { source: 'nvml', timestamp, driverVersion: 'test', sourceVersion: null, devices };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
