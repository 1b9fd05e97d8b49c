/**
 * The NVML worker thread: loads libnvidia-ml through koffi, initialises it and answers sample
 * requests, so that no driver call ever runs on the extension host's thread. A call that hangs
 * in the driver hangs this thread only. Bundled on its own (dist/nvml-worker.cjs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromNvmlWorker, NvmlWorkerData, ToNvmlWorker } from './nvml-worker-protocol.ts';
import { openNvml, type NvmlSource } from './nvml-source.ts';

const port = parentPort;
if (!port) throw new Error('nvml-worker runs only as a worker thread');
const data = workerData as NvmlWorkerData;
const post = (message: FromNvmlWorker): void => port.postMessage(message);

void (async () => {
  let source: NvmlSource | null = null;
  try {
    const opened = await openNvml({ libraryPath: data.libraryPath, env: data.env, platform: data.platform, log: (message) => post({ type: 'log', message }) });
    if (!opened.ok) {
      post({ type: 'opened', ok: false, reason: opened.reason });
      port.close();
      return;
    }
    source = opened.source;
    post({ type: 'opened', ok: true, description: source.description });
  } catch (err) {
    post({ type: 'opened', ok: false, reason: `the NVML worker failed: ${err instanceof Error ? err.message : String(err)}` });
    port.close();
    return;
  }
  const open = source;
  // One request at a time, in order: the main thread never sends a second while one is in flight.
  let queue = Promise.resolve();
  port.on('message', (message: ToNvmlWorker) => {
    queue = queue.then(async () => {
      if (message.type === 'dispose') {
        try {
          await open.dispose();
        } finally {
          post({ type: 'disposed' });
          port.close();
        }
        return;
      }
      try {
        post({ type: 'sample', id: message.id, ok: true, sample: await open.sample(message.timestamp, message.options) });
      } catch (err) {
        post({ type: 'sample', id: message.id, ok: false, message: err instanceof Error ? err.message : String(err) });
      }
    });
  });
})();
