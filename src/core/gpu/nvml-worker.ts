/**
 * The NVML worker process: loads libnvidia-ml through koffi, initialises it and answers sample
 * requests over its IPC channel, so that no driver call ever runs in the extension host or the CLI.
 * A call that hangs in the driver hangs this process only, and a process, unlike a thread, can be
 * killed: whoever started it leaves at once and never waits for the driver. Bundled on its own
 * (dist/nvml-worker.cjs).
 */
import { errorMessage } from '../errors.ts';
import type { FromNvmlWorker, ToNvmlWorker } from './nvml-worker-protocol.ts';
import { openNvml, type NvmlSource } from './nvml-source.ts';

const send = process.send?.bind(process);
if (!send) throw new Error('nvml-worker runs only as a child process with an IPC channel');
const post = (message: FromNvmlWorker): void => void send(message);

// Ctrl-C in a terminal reaches the whole process group: the parent decides when this process goes.
process.on('SIGINT', () => {});
// The parent went (even by SIGKILL): nothing is left to answer.
process.on('disconnect', () => process.exit(0));

let source: NvmlSource | null = null;
// One request at a time, in order: the parent never sends a second while one is in flight.
let queue = Promise.resolve();

process.on('message', (message: ToNvmlWorker) => {
  // A request that failed to answer (the parent gone) must not stop the ones after it.
  queue = queue.then(() => handle(message)).catch(() => {});
});

async function handle(message: ToNvmlWorker): Promise<void> {
  if (message.type === 'open') {
    const data = message.data;
    try {
      const opened = await openNvml({ libraryPath: data.libraryPath, env: data.env, platform: data.platform, log: (m) => post({ type: 'log', message: m }) });
      if (!opened.ok) {
        post({ type: 'opened', ok: false, reason: opened.reason });
        return;
      }
      source = opened.source;
      post({ type: 'opened', ok: true, description: source.description });
    } catch (err) {
      post({ type: 'opened', ok: false, reason: `the NVML worker failed: ${errorMessage(err)}` });
    }
    return;
  }
  if (message.type === 'dispose') {
    try {
      await source?.dispose();
    } finally {
      post({ type: 'disposed' });
      process.disconnect();
    }
    return;
  }
  if (!source) {
    post({ type: 'sample', id: message.id, ok: false, message: 'NVML is not open' });
    return;
  }
  try {
    post({ type: 'sample', id: message.id, ok: true, sample: await source.sample(message.timestamp, message.options) });
  } catch (err) {
    post({ type: 'sample', id: message.id, ok: false, message: errorMessage(err) });
  }
}
