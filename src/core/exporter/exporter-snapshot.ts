/** What one scrape of the exporter shows: the latest sample and what is known about its processes. */
import type { SourceKind } from '../gpu/types.ts';
import type { ServerReport } from '../servers/adapters/types.ts';
import type { GpuLedger } from '../servers/ledger.ts';
import type { Owner } from '../servers/server-registry.ts';
import type { WatchedSample } from '../watch/watcher.ts';

export interface ExporterSnapshot {
  /** The `hostname` label on every series (and dcgm-exporter's `Hostname`). */
  hostname: string;
  /** When the scrape happens (ms since the epoch). */
  now: number;
  /** Whether a GPU source is open; without one no GPU series are shown (they would be stale). */
  source: { up: boolean; kind: SourceKind | null };
  /** The latest sample with its levels and thresholds; null before the first. */
  latest: WatchedSample | null;
  /** The sample's memory by task, server and process; null before the first sample. */
  ledger: GpuLedger[] | null;
  /** Every running task and server known, with what each server reports about itself. */
  owners: Owner[];
  reports: ReadonlyMap<string, ServerReport>;
  /** Samples that failed since the exporter started. */
  sampleErrors: number;
}
