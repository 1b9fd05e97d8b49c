/**
 * When to list a GPU's processes. Listing them takes the driver's global lock and costs milliseconds
 * on consumer cards (against microseconds for memory info), so memory is read every sample but the
 * lists only when used memory moved by more than a small step since the last list, when
 * `processListIntervalMs` has passed, or when a view asks for them now.
 */
import type { SampleOptions } from './types.ts';
import { MiB } from '../units.ts';

export const DEFAULT_PROCESS_LIST_INTERVAL_MS = 5000;
/** A move in used memory at least this large lists the processes again (a model loading or unloading). */
export const PROCESS_LIST_STEP_BYTES = 64 * MiB;

export class ProcessListBudget {
  private readonly last = new Map<string, { at: number; used: number }>();

  /** Whether the GPU `key` (its UUID, or its index) should have its processes listed in this sample. */
  due(key: string, now: number, used: number | null, options: SampleOptions | undefined): boolean {
    if (options?.processes !== 'budget') return true;
    const last = this.last.get(key);
    if (!last || used === null) return true;
    const interval = options?.processListIntervalMs ?? DEFAULT_PROCESS_LIST_INTERVAL_MS;
    if (now - last.at >= interval || now < last.at) return true;
    return Math.abs(used - last.used) >= PROCESS_LIST_STEP_BYTES;
  }

  listed(key: string, now: number, used: number | null): void {
    if (used === null) this.last.delete(key);
    else this.last.set(key, { at: now, used });
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}
