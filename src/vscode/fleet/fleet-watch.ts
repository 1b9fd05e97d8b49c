/**
 * Reads the fleet every `vramGuard.fleet.refreshSeconds` while a source is configured, never two
 * refreshes at once, off the extension host's hot path (HTTP only, bounded in time and size). Tells
 * its listeners (the dashboard, the status bar) after each refresh, and, when
 * `vramGuard.fleet.notifyCritical` is on, notifies when a fleet GPU turns CRITICAL.
 */
import type * as vscode from 'vscode';
import { Emitter } from '../../core/events.ts';
import { FleetRefresher } from '../../core/fleet/fleet-refresh.ts';
import { fleetConfigured } from '../../core/fleet/fleet-settings.ts';
import { leftOutLines, newlyCritical } from '../../core/fleet/fleet-summary.ts';
import type { FleetSnapshot } from '../../core/fleet/fleet-types.ts';
import { errorMessage } from '../../core/errors.ts';
import { fleetCriticalLine } from '../../core/report/one-line.ts';
import { showNotice } from '../notifications/notice.ts';
import type { VramGuardContext } from '../vram-guard-context.ts';

/** What the fleet reads from the context, when it reads it (the settings, the token, the thresholds in force, the log). */
type FleetContext = Pick<VramGuardContext, 'config' | 'prometheusToken' | 'log'>;

/** What the dashboard and the pre-flight read. */
export interface FleetFeed {
  readonly latest: FleetSnapshot | null;
  configured(): boolean;
  refreshNow(): Promise<FleetSnapshot | null>;
  on(listener: (s: FleetSnapshot | null) => void): () => void;
}

export class FleetWatch implements FleetFeed, vscode.Disposable {
  latest: FleetSnapshot | null = null;
  private readonly refresher = new FleetRefresher();
  /** A listener that fails is reported like any emitter's: in the output channel, with the event's name. */
  private readonly snapshots = new Emitter<{ fleet: [FleetSnapshot | null] }>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<FleetSnapshot | null> | null = null;
  private disposed = false;
  private lastErrors = '';

  private readonly ctx: FleetContext;

  constructor(ctx: FleetContext) {
    this.ctx = ctx;
  }

  private settings() {
    return this.ctx.config.current.fleet;
  }

  configured(): boolean {
    return fleetConfigured(this.settings());
  }

  on(listener: (s: FleetSnapshot | null) => void): () => void {
    return this.snapshots.on('fleet', listener);
  }

  /** (Re)starts the refresh timer from the settings; with no source, forgets the fleet. */
  configure(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.disposed) return;
    if (!this.configured()) {
      if (this.latest !== null) {
        this.latest = null;
        this.emit(null);
      }
      return;
    }
    this.timer = setInterval(() => void this.refreshNow(), this.settings().refreshMs);
    void this.refreshNow();
  }

  refreshNow(): Promise<FleetSnapshot | null> {
    this.running ??= this.refresh().finally(() => (this.running = null));
    return this.running;
  }

  private async refresh(): Promise<FleetSnapshot | null> {
    const settings = this.settings();
    if (this.disposed || !fleetConfigured(settings)) return null;
    const before = this.latest;
    let snapshot: FleetSnapshot;
    try {
      snapshot = await this.refresher.refresh({
        prometheus: settings.prometheus,
        targets: settings.targets,
        token: settings.prometheus ? await this.ctx.prometheusToken.get() : null,
        ours: this.ctx.config.current.general.thresholds,
        staleAfterMs: Math.max(120_000, 3 * settings.refreshMs),
      });
    } catch (err) {
      this.ctx.log.warn(`fleet: refresh failed: ${errorMessage(err)}`);
      return this.latest;
    }
    if (this.disposed) return null;
    this.latest = snapshot;
    const errors = [...snapshot.sources.flatMap((s) => (s.ok ? [] : [`${s.source}: ${s.error}`])), ...leftOutLines(snapshot)].join('\n');
    if (errors !== this.lastErrors) {
      this.lastErrors = errors;
      if (errors) for (const line of errors.split('\n')) this.ctx.log.warn(`fleet: ${line}`);
      else this.ctx.log.info('fleet: every source answers');
    }
    if (settings.notifyCritical) {
      for (const turn of newlyCritical(before, snapshot)) {
        void showNotice('warning', fleetCriticalLine(turn));
      }
    }
    this.emit(snapshot);
    return snapshot;
  }

  private emit(s: FleetSnapshot | null): void {
    this.snapshots.emit('fleet', s);
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.snapshots.clear();
  }
}
