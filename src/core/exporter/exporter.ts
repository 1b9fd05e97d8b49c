/**
 * The exporter as the CLI and the extension run it: a feed over a running watcher, the metrics it
 * renders on each scrape, and the HTTP listener.
 */
import { ExporterFeed, type ExporterFeedOptions } from './exporter-feed.ts';
import { ExporterMetrics } from './exporter-metrics.ts';
import { ExporterServer } from './exporter-server.ts';
import type { ListenAddress } from './listen-address.ts';

export interface ExporterOptions extends ExporterFeedOptions {
  address: ListenAddress;
  /** Also serve dcgm-exporter's memory gauge names (default true). */
  dcgmNames?: boolean;
}

export interface RunningExporter {
  /** The address it listens on (the port the system chose when 0 was asked). */
  address: ListenAddress;
  /** `http://host:port/metrics` */
  url: string;
  feed: ExporterFeed;
  close(): Promise<void>;
}

/** Starts serving; rejects with an ExporterListenError when the address cannot be used. */
export async function startExporter(options: ExporterOptions): Promise<RunningExporter> {
  const feed = new ExporterFeed(options);
  const metrics = new ExporterMetrics({ dcgmNames: options.dcgmNames });
  let server: ExporterServer;
  try {
    server = await ExporterServer.start(options.address, { contentType: metrics.contentType, render: () => metrics.render(feed.snapshot()) }, options.log);
  } catch (err) {
    feed.dispose();
    throw err;
  }
  return {
    address: server.address,
    url: server.url,
    feed,
    close: async () => {
      feed.dispose();
      await server.close();
    },
  };
}
