/**
 * A real Watcher over a real GPU source (the probe, so NVML runs in its worker process through koffi
 * against the fake library), with what the user would see: the status bar item's text and tooltip,
 * the level notifications the alert policy lets through, and the watcher's samples and statuses.
 */
import { probeSource, type ProbeOptions } from '../../src/core/gpu/probe.ts';
import { AlertPolicy } from '../../src/core/watch/alert-policy.ts';
import type { LevelTransition } from '../../src/core/watch/classifier.ts';
import { DEFAULT_THRESHOLDS, type ThresholdSpec } from '../../src/core/watch/thresholds.ts';
import { Watcher, type SourceStatus, type WatchedSample } from '../../src/core/watch/watcher.ts';
import { statusView, type StatusView } from '../../src/vscode/status-bar/status-view.ts';

export interface WatchHarness {
  watcher: Watcher;
  samples: WatchedSample[];
  statuses: SourceStatus[];
  transitions: LevelTransition[];
  /** Transitions the alert policy turns into a notification (the extension's LevelNotifier rule). */
  notifications: LevelTransition[];
  errors: Error[];
  logs: string[];
  /** The status bar item as the extension would show it now. */
  view(): StatusView;
  /** Resolves once `ready` holds (checked at every sample and status), or rejects after `timeoutMs` saying what it waited for. */
  until(what: string, ready: () => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface WatchOptions {
  probe: Omit<ProbeOptions, 'log'>;
  thresholds?: ThresholdSpec;
  intervalMs?: number;
  replaceStuckSourceAfterMs?: number;
  reprobeMs?: number;
}

export function watch(options: WatchOptions): WatchHarness {
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);
  const watcher = new Watcher({
    openSource: (signal) => probeSource({ ...options.probe, log, signal }),
    thresholds: options.thresholds ?? DEFAULT_THRESHOLDS,
    intervalMs: options.intervalMs ?? 100,
    adaptive: { enabled: false, fastIntervalMs: 100, calmIntervalMs: 100, margin: { kind: 'percent', percent: 5 } },
    replaceStuckSourceAfterMs: options.replaceStuckSourceAfterMs,
    reprobeMs: options.reprobeMs ?? 60_000,
    log,
  });
  const policy = new AlertPolicy({ notifyOnWarning: true, minIntervalMs: 0 });
  const h: WatchHarness = {
    watcher,
    samples: [],
    statuses: [],
    transitions: [],
    notifications: [],
    errors: [],
    logs,
    view: () => statusView({ status: watcher.status, latest: watcher.latest, gpu: 'worst', hideWhenNoGpu: false }),
    until: (what, ready, timeoutMs = 8000) =>
      new Promise<void>((resolve, reject) => {
        if (ready()) return resolve();
        const check = () => {
          if (!ready()) return;
          done();
          resolve();
        };
        const offs = [watcher.on('sample', check), watcher.on('status', check)];
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${what}; the status bar shows ${JSON.stringify(h.view().text)}; log: ${logs.slice(-5).join(' | ')}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          for (const off of offs) off();
        };
      }),
    stop: () => watcher.stop(),
  };
  watcher.on('sample', (w) => h.samples.push(w));
  watcher.on('status', (s) => h.statuses.push(s));
  watcher.on('error', (e) => h.errors.push(e));
  watcher.on('transition', (t) => {
    h.transitions.push(t);
    if (policy.shouldNotify(t)) h.notifications.push(t);
  });
  watcher.start();
  return h;
}
