/**
 * The VRAM gate before a model server starts: free VRAM must cover what it needs plus a margin,
 * else it is refused with the numbers. A small stand-in for the full pre-flight check; both answer
 * with the shared CheckResult.
 */
import { stat } from 'node:fs/promises';
import type { CheckResult } from '../checks/check-result.ts';
import type { GpuDevice } from '../gpu/types.ts';
import { formatMiB } from '../units.ts';

export interface GateInput {
  taskName: string;
  /** The GPU as just sampled; null when there is no GPU to read. */
  device: GpuDevice | null;
  needsBytes: number | null;
  /** A model file whose size stands in for its weights when `needsBytes` is not given. */
  modelPath: string | null;
  marginBytes: number;
}

export type VramGate = (input: GateInput) => Promise<CheckResult>;

export const vramGate: VramGate = async (input) => {
  const id = 'servers.vramGate';
  const title = `Enough free VRAM for "${input.taskName}"`;
  let needs = input.needsBytes;
  let basis = 'its "needs"';
  if (needs === null && input.modelPath) {
    try {
      needs = (await stat(input.modelPath)).size;
      basis = `the size of ${input.modelPath} (weights only; the context needs more)`;
    } catch {
      needs = null;
    }
  }
  if (!input.device || !input.device.memory) {
    const why = input.device?.error ? `GPU ${input.device.index} could not be read (${input.device.error.code})` : 'there is no GPU reading';
    return { id, title, status: 'unavailable', detail: `The VRAM gate was skipped: ${why}.`, advice: 'The server starts without the check; watch the status bar.' };
  }
  const { free, total } = input.device.memory;
  const gpu = `GPU ${input.device.index}`;
  if (needs === null) {
    return {
      id,
      title,
      status: 'warn',
      detail: `${gpu} has ${formatMiB(free)} free of ${formatMiB(total)}; what "${input.taskName}" needs is unknown.`,
      advice: 'Add "needs": "6GiB" (or a "model" path) to the task so the gate can refuse a start that would not fit.',
      data: { freeBytes: free, totalBytes: total },
    };
  }
  const required = needs + input.marginBytes;
  const data = { freeBytes: free, totalBytes: total, needsBytes: needs, marginBytes: input.marginBytes };
  if (free >= required) {
    return { id, title, status: 'pass', detail: `${gpu} has ${formatMiB(free)} free; "${input.taskName}" needs ${formatMiB(needs)} (from ${basis}) + ${formatMiB(input.marginBytes)} margin.`, advice: '', data };
  }
  return {
    id,
    title,
    status: 'fail',
    detail: `Not started: ${gpu} has ${formatMiB(free)} free of ${formatMiB(total)}, and "${input.taskName}" needs ${formatMiB(needs)} (from ${basis}) + ${formatMiB(input.marginBytes)} margin = ${formatMiB(required)}, ${formatMiB(required - free)} more than is free. Starting it would likely end in CUDA out-of-memory errors.`,
    advice: 'Free VRAM first (stop or unload another model server, or run a fallback step), or lower what it needs (a smaller context or model), then run the task again.',
    data,
  };
};
