/**
 * Used memory for the chain's settle wait, from the watcher's own next sample (which comes fast at
 * CRITICAL and above), so the GPU is not sampled a second time. Null after `timeoutMs` without one.
 */
import type { Watcher } from '../watch/watcher.ts';

export function nextSampleUsed(watcher: Watcher, gpu: number, timeoutMs = 5000): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve(null);
    }, timeoutMs);
    const off = watcher.on('sample', (w) => {
      clearTimeout(timer);
      off();
      resolve(w.sample.devices.find((d) => d.index === gpu)?.memory?.used ?? null);
    });
  });
}
