/**
 * The exporter's HTTP listener: `GET /metrics` answers the latest snapshot in Prometheus's text
 * format, `GET /` a line pointing there, anything else 404 (405 for other methods). Listening
 * failures become one sentence saying what to do (the port is in use, the address is not here).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { formatListenAddress, type ListenAddress } from './listen-address.ts';
import { errorMessage } from '../errors.ts';

export interface MetricsRenderer {
  contentType: string;
  render(): Promise<string>;
}

export class ExporterListenError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

export class ExporterServer {
  readonly address: ListenAddress;
  private readonly server: Server;

  private constructor(server: Server, address: ListenAddress) {
    this.server = server;
    this.address = address;
  }

  /** Starts listening; rejects with an ExporterListenError that says what went wrong. */
  static start(address: ListenAddress, metrics: MetricsRenderer, log: (message: string) => void = () => {}): Promise<ExporterServer> {
    const server = createServer((req, res) => void handle(req, res, metrics, log));
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 100;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.close();
        reject(listenError(err, address));
      };
      server.once('error', onError);
      server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        server.off('error', onError);
        server.on('error', (err) => log(`exporter: ${err.message}`));
        const bound = server.address();
        const port = bound && typeof bound === 'object' ? bound.port : address.port;
        resolve(new ExporterServer(server, { ...address, port }));
      });
    });
  }

  get url(): string {
    return `http://${formatListenAddress(this.address)}/metrics`;
  }

  /** Stops listening and closes open connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, metrics: MetricsRenderer, log: (message: string) => void): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Only GET and HEAD.\n');
    return;
  }
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('VRAM Guard exporter: the metrics are at /metrics\n');
    return;
  }
  if (path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: the metrics are at /metrics\n');
    return;
  }
  let body: string;
  try {
    body = await metrics.render();
  } catch (err) {
    const message = errorMessage(err);
    log(`exporter: rendering the metrics failed: ${message}`);
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`The metrics could not be rendered: ${message}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function listenError(err: NodeJS.ErrnoException, address: ListenAddress): ExporterListenError {
  const where = formatListenAddress(address);
  switch (err.code) {
    case 'EADDRINUSE':
      return new ExporterListenError(
        `cannot listen on ${where}: the port ${address.port} is in use by another program (another exporter?). Stop it, or choose another port with --listen, e.g. ${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port + 1}`,
        err.code,
      );
    case 'EACCES':
      return new ExporterListenError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges); choose a port from 1024 up`, err.code);
    case 'EADDRNOTAVAIL':
      return new ExporterListenError(`cannot listen on ${where}: ${address.host} is not an address of this machine`, err.code);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ExporterListenError(`cannot listen on ${where}: the host name ${address.host} does not resolve`, err.code);
    default:
      return new ExporterListenError(`cannot listen on ${where}: ${err.message}`, err.code ?? 'UNKNOWN');
  }
}
