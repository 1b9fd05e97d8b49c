/** A small typed event emitter: `on` returns the function that removes the listener. */
import { errorMessage } from './errors.ts';

type Listener = (...args: unknown[]) => void;

/** Where a failing listener is reported; the extension host's console by default. */
export type ListenerErrorReporter = (event: string, err: unknown) => void;

const reportToConsole: ListenerErrorReporter = (event, err) => {
  console.error(`VRAM Guard: a listener of "${event}" failed: ${errorMessage(err)}`);
};

export class Emitter<Events extends Record<string, unknown[]>> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  private readonly reportListenerError: ListenerErrorReporter;

  constructor(reportListenerError: ListenerErrorReporter = reportToConsole) {
    this.reportListenerError = reportListenerError;
  }

  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const stored = listener as unknown as Listener;
    set.add(stored);
    return () => set.delete(stored);
  }

  emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        listener(...args);
      } catch (err) {
        // One listener's failure must not stop the others, nor the watcher; it is reported, not lost.
        this.reportListenerError(String(event), err);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
