/**
 * Everything a feature starts, stopped once: a `{ dispose() }` (a VS Code Disposable included), an
 * off-function (what `Emitter.on` returns) or an async close (`{ close(): Promise }`). `dispose`
 * stops them in reverse order, one after the other (awaiting each, so a server is stopped before the
 * watcher it reads), reports a failure and goes on with the rest, and returns the same promise on
 * every call: the entries are taken out on the first, so a second dispose has nothing left to stop.
 * Something added after dispose began is stopped at once. No `vscode` import: the CLI can use it too.
 */
import { errorMessage } from './errors.ts';

/** What a lifetime accepts: anything with an end. */
export type Owned = { dispose(): unknown } | { close(): unknown } | (() => unknown);

/** Where a failure to stop something is reported, with what was being stopped. */
export type StopErrorReporter = (message: string) => void;

export class Lifetime {
  private entries: (() => unknown)[] = [];
  private ending: Promise<void> | null = null;
  private readonly reportError: StopErrorReporter;

  constructor(reportError: StopErrorReporter = (m) => console.error(`VRAM Guard: ${m}`)) {
    this.reportError = reportError;
  }

  /** True once dispose was called. */
  get disposed(): boolean {
    return this.ending !== null;
  }

  /** Owns `item` until dispose; returns it, so `const x = lifetime.add(make())` reads naturally. */
  add<T extends Owned>(item: T): T {
    const stop = stopperOf(item);
    if (this.ending) void this.stopOne(stop);
    else this.entries.push(stop);
    return item;
  }

  /** Stops everything once, last added first; later calls return the same promise. */
  dispose(): Promise<void> {
    this.ending ??= (async () => {
      const entries = this.entries.reverse();
      this.entries = [];
      for (const stop of entries) await this.stopOne(stop);
    })();
    return this.ending;
  }

  private async stopOne(stop: () => unknown): Promise<void> {
    try {
      await stop();
    } catch (err) {
      this.reportError(`stopping failed: ${errorMessage(err)}`);
    }
  }
}

function stopperOf(item: Owned): () => unknown {
  if (typeof item === 'function') return item;
  if ('dispose' in item && typeof item.dispose === 'function') return () => item.dispose();
  if ('close' in item && typeof item.close === 'function') return () => item.close();
  throw new TypeError('a lifetime owns a function, a { dispose() } or a { close() }');
}
