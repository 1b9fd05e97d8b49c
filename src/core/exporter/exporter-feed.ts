/**
 * Feeds the exporter from a running watcher: the latest sample (never a driver call of its own),
 * the failed samples counted, and — refreshed in the background at most every `refreshMs`, and
 * sooner when a process appears that the process table does not know — the process table, the
 * running tasks and servers, and what each server reports. A snapshot joins them into the ledger.
 */
import { systemClock, type Clock } from '../clock.ts';
import { adapterFor } from '../servers/adapters/index.ts';
import type { ServerReport } from '../servers/adapters/types.ts';
import { buildLedger } from '../servers/ledger.ts';
import { readProcessTable, type ProcessTable } from '../servers/process-tree.ts';
import { ProcessRecogniser, type ProcessRecognition } from '../servers/recognition/recogniser.ts';
import type { Owner } from '../servers/server-registry.ts';
import type { Watcher } from '../watch/watcher.ts';
import type { ExporterSnapshot } from './exporter-snapshot.ts';
import { errorMessage } from '../errors.ts';

export interface ExporterFeedOptions {
  watcher: Watcher;
  hostname: string;
  /** The running tasks and servers (the extension's registry, or the servers file). */
  owners: () => Owner[] | Promise<Owner[]>;
  /** Least time between two refreshes of processes, owners and server reports (default 2000 ms). */
  refreshMs?: number;
  /** How long a server may take to answer (default 1000 ms). */
  reportTimeoutMs?: number;
  readProcessTable?: () => Promise<ProcessTable>;
  fetch?: typeof fetch;
  clock?: Clock;
  log?: (message: string) => void;
}

const EARLY_REFRESH_MS = 250;

export class ExporterFeed {
  private readonly options: ExporterFeedOptions;
  private readonly clock: Clock;
  private table: ProcessTable = new Map();
  private owners: Owner[] = [];
  private reports = new Map<string, ServerReport>();
  /** What /proc says each GPU process is, cached between refreshes. */
  private readonly recogniser = new ProcessRecogniser();
  private recognised: ReadonlyMap<number, ProcessRecognition> = new Map();
  private errors = 0;
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<void> | null = null;
  private readonly offs: Array<() => void>;

  constructor(options: ExporterFeedOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.offs = [options.watcher.on('sample', () => this.maybeRefresh()), options.watcher.on('error', () => void this.errors++)];
    if (options.watcher.latest) this.maybeRefresh();
  }

  /** Refreshes processes, owners and reports now (unless a refresh is running), and waits for it. */
  refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.lastRefresh = this.clock.now();
    this.refreshing = this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** What a scrape shows now. Synchronous: the ledger is joined from what is already known. */
  snapshot(): ExporterSnapshot {
    const { watcher, hostname } = this.options;
    const status = watcher.status;
    const latest = watcher.latest;
    return {
      hostname,
      now: this.clock.now(),
      source: { up: status.state === 'ready', kind: status.state === 'ready' ? status.source.kind : (latest?.sample.source ?? null) },
      latest,
      ledger: latest
        ? buildLedger({ sample: latest.sample, table: this.table, owners: this.owners, reports: this.reports, recognised: this.recognised })
        : null,
      owners: this.owners,
      reports: this.reports,
      sampleErrors: this.errors,
    };
  }

  dispose(): void {
    for (const off of this.offs) off();
    this.recogniser.dispose();
  }

  private maybeRefresh(): void {
    const since = this.clock.now() - this.lastRefresh;
    if (since >= (this.options.refreshMs ?? 2000) || (since >= EARLY_REFRESH_MS && this.hasUnknownProcess())) void this.refresh();
  }

  private hasUnknownProcess(): boolean {
    return !!this.options.watcher.latest?.sample.devices.some((d) => d.processes.some((p) => !this.table.has(p.pid)));
  }

  private async doRefresh(): Promise<void> {
    const log = this.options.log ?? (() => {});
    try {
      const pids = this.options.watcher.latest?.sample.devices.flatMap((d) => d.processes.map((p) => p.pid)) ?? [];
      const [table, owners, recognised] = await Promise.all([
        (this.options.readProcessTable ?? readProcessTable)(),
        this.options.owners(),
        this.recogniser.recognise(pids),
      ]);
      this.recognised = recognised;
      const reports = new Map<string, ServerReport>();
      await Promise.all(
        owners.map(async (o) => {
          const adapter = adapterFor(o.kind);
          if (!adapter || !o.baseUrl) return;
          reports.set(o.name, await adapter.report(o.baseUrl, { timeoutMs: this.options.reportTimeoutMs ?? 1000, fetch: this.options.fetch }));
        }),
      );
      this.table = table;
      this.owners = owners;
      this.reports = reports;
    } catch (err) {
      log(`could not refresh the tasks and servers: ${errorMessage(err)}`);
    }
  }
}
