/**
 * `AbortSignal.any` for the Node versions the CLI runs on: it arrived in Node 20.3, and the CLI
 * also runs on Node 18.19. Aborts when any of the signals aborts, with that signal's reason.
 */
export function anySignal(signals: readonly AbortSignal[]): AbortSignal {
  const controller = new AbortController();
  const onAbort = (signal: AbortSignal) => () => {
    for (const [s, listener] of listeners) s.removeEventListener('abort', listener);
    controller.abort(signal.reason);
  };
  const listeners: Array<[AbortSignal, () => void]> = [];
  for (const signal of signals) {
    if (signal.aborted) {
      for (const [s, listener] of listeners) s.removeEventListener('abort', listener);
      controller.abort(signal.reason);
      return controller.signal;
    }
    const listener = onAbort(signal);
    listeners.push([signal, listener]);
    signal.addEventListener('abort', listener, { once: true });
  }
  return controller.signal;
}
