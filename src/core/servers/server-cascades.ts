/**
 * A server VRAM Guard runs, watched for CUDA-error cascades: its output (through every restart)
 * goes through one CascadeWatch, and each cascade is told (the task's terminal, the log, a
 * notification) and reported to the registry, where the history marks it and the fallback chain's
 * `cascade` steps act on the server.
 */
import type { CascadeRule } from './cascade-detector.ts';
import { CascadeWatch } from './cascade-watch.ts';
import type { ManagedServer } from './managed-server.ts';
import type { ServerCascade, ServerRegistry } from './server-registry.ts';

export interface ServerCascadeOptions {
  rule?: CascadeRule;
  now?: () => number;
  /** Called first, with the cascade, before the registry hears of it. */
  tell?: (c: ServerCascade) => void;
}

/** Starts watching; returns the function that stops it. */
export function watchServerCascades(server: ManagedServer, registry: ServerRegistry, options: ServerCascadeOptions = {}): () => void {
  const watch = new CascadeWatch({
    rule: options.rule,
    now: options.now,
    onCascade: (cascade, last) => {
      const c: ServerCascade = { server: server.name, kind: server.task.server, pid: server.pid, gpu: server.task.gpu, cascade, last };
      options.tell?.(c);
      registry.reportCascade(c);
    },
  });
  return server.on('output', (text, stream) => watch.push(text, stream));
}
