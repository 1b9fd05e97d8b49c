/**
 * Watches the dashboard page load: a page that has not said "ready" within a few seconds of being
 * shown is opened again in a fresh panel, at most twice in a row, each time with a line in the
 * output channel. On a busy machine the webview's service worker sometimes never answers a new
 * page's requests for its script and stylesheet (they fail with ERR_ABORTED) and the panel stays
 * on "Loading…" for good; setting the same HTML again reuses the same frame and does not help, a
 * new panel (a new frame, a new client of the service worker) does. No vscode import: the panel
 * module passes what a reload does; the clock is injected.
 */
import type { Clock } from '../../core/clock.ts';

/** How long a shown page may take to say "ready" before it is opened again. */
export const PAGE_READY_TIMEOUT_MS = 10_000;
/** Fresh panels opened in a row for a page that never said "ready". */
export const MAX_PAGE_RELOADS = 2;

export interface PageLoadWatchOptions {
  clock: Clock;
  /** Opens the page again in a fresh panel; `attempt` counts from 1. */
  reload: (attempt: number) => void;
  log: { info(line: string): void; warn(line: string): void };
  /** Reloads already done for this page (a fresh panel carries its predecessor's count). */
  reloadsSoFar?: number;
  timeoutMs?: number;
  maxReloads?: number;
}

export class PageLoadWatch {
  private readonly options: PageLoadWatchOptions;
  private readonly timeoutMs: number;
  private readonly maxReloads: number;
  private reloads: number;
  private timer: unknown = null;
  private ready = false;
  private done = false;

  constructor(options: PageLoadWatchOptions) {
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? PAGE_READY_TIMEOUT_MS;
    this.maxReloads = options.maxReloads ?? MAX_PAGE_RELOADS;
    this.reloads = options.reloadsSoFar ?? 0;
  }

  /** The page is visible and loading (a new panel, or a hidden one shown again): the clock starts. */
  shown(): void {
    if (this.done || this.ready || this.timer !== null) return;
    this.timer = this.options.clock.setTimeout(() => this.expired(), this.timeoutMs);
  }

  /** The panel was hidden: its page is unloaded, and loads again when shown. */
  hidden(): void {
    this.stop();
    this.ready = false;
  }

  /** The page said "ready": it loaded, so a later stall starts a fresh count. */
  sawReady(): void {
    this.stop();
    this.ready = true;
    this.reloads = 0;
  }

  dispose(): void {
    this.stop();
    this.done = true;
  }

  private stop(): void {
    if (this.timer !== null) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private expired(): void {
    this.timer = null;
    if (this.done || this.ready) return;
    const seconds = Math.round(this.timeoutMs / 1000);
    if (this.reloads >= this.maxReloads) {
      this.done = true;
      this.options.log.warn(
        `dashboard: the page did not load in ${seconds} s after ${this.maxReloads} fresh panels; close it and run "VRAM Guard: Open Dashboard", or reload the window`,
      );
      return;
    }
    this.done = true;
    this.reloads++;
    this.options.log.info(`dashboard: the page did not load in ${seconds} s; opening it again in a fresh panel (${this.reloads} of ${this.maxReloads})`);
    this.options.reload(this.reloads);
  }
}
