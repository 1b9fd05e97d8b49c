/** A small typed event emitter: `on` returns the function that removes the listener. */
import { errorMessage } from './errors.ts';

type Listener = (...args: unknown[]) => void;

/** Where a failing listener is reported; the extension host's console by default. */
export type ListenerErrorReporter = (event: string, err: unknown) => void;

const reportToConsole: ListenerErrorReporter = (event, err) => {
  console.error(`VRAM Guard: a listener of "${event}" failed: ${errorMessage(err)}`);
};

let reportByDefault: ListenerErrorReporter = reportToConsole;

/**
 * Sends the listener errors of every emitter that was given no reporter of its own (those made
 * before this call included) to `reporter`: the extension's output channel while it runs, so an
 * emitter deep in a feature needs no log handed down. Returns the function that puts the previous
 * reporter back.
 */
export function reportListenerErrorsTo(reporter: ListenerErrorReporter): () => void {
  const previous = reportByDefault;
  reportByDefault = reporter;
  return () => {
    if (reportByDefault === reporter) reportByDefault = previous;
  };
}

export class Emitter<Events extends Record<string, unknown[]>> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  private readonly reportListenerError: ListenerErrorReporter | null;

  constructor(reportListenerError: ListenerErrorReporter | null = null) {
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
        (this.reportListenerError ?? reportByDefault)(String(event), err);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
