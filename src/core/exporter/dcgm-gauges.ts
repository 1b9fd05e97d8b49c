/**
 * dcgm-exporter's names for the memory gauges, so dashboards and alerts built for it work
 * unchanged: `DCGM_FI_DEV_FB_FREE`, `DCGM_FI_DEV_FB_USED`, `DCGM_FI_DEV_FB_RESERVED` in MiB (whole
 * MiB, as DCGM reports them), with its help texts (etc/default-counters.csv) and its labels in its
 * order: `gpu`, `UUID`, `pci_bus_id`, `device` ("nvidia0"), `modelName`, `Hostname`, and the driver
 * version as the label `DCGM_FI_DRIVER_VERSION` (a "label" row of the default counters).
 * `pci_bus_id` is empty: the GPU sources do not read the bus id (dcgm-exporter leaves it empty too
 * where it does not know it).
 */
import { Gauge, type Registry } from 'prom-client';
import type { GpuDevice } from '../gpu/types.ts';
import { MiB } from '../units.ts';

export const DCGM_LABELS = ['gpu', 'UUID', 'pci_bus_id', 'device', 'modelName', 'Hostname', 'DCGM_FI_DRIVER_VERSION'] as const;

const FIELDS = [
  { name: 'DCGM_FI_DEV_FB_FREE', help: 'Framebuffer memory free (in MiB).', bytes: (d: GpuDevice) => d.memory?.free ?? null },
  { name: 'DCGM_FI_DEV_FB_USED', help: 'Framebuffer memory used (in MiB).', bytes: (d: GpuDevice) => d.memory?.used ?? null },
  { name: 'DCGM_FI_DEV_FB_RESERVED', help: 'Framebuffer memory reserved (in MiB).', bytes: (d: GpuDevice) => d.memory?.reserved ?? null },
] as const;

export class DcgmGauges {
  private readonly gauges: Array<{ gauge: Gauge<(typeof DCGM_LABELS)[number]>; bytes: (d: GpuDevice) => number | null }>;

  constructor(registry: Registry) {
    this.gauges = FIELDS.map((f) => ({ gauge: new Gauge({ name: f.name, help: f.help, labelNames: DCGM_LABELS, registers: [registry] }), bytes: f.bytes }));
  }

  reset(): void {
    for (const g of this.gauges) g.gauge.reset();
  }

  set(device: GpuDevice, hostname: string, driverVersion: string | null): void {
    const labels = {
      gpu: String(device.index),
      UUID: device.uuid ?? '',
      pci_bus_id: '',
      device: `nvidia${device.index}`,
      modelName: device.name ?? '',
      Hostname: hostname,
      DCGM_FI_DRIVER_VERSION: driverVersion ?? '',
    };
    for (const g of this.gauges) {
      const bytes = g.bytes(device);
      if (bytes !== null) g.gauge.set(labels, Math.floor(bytes / MiB));
    }
  }
}
