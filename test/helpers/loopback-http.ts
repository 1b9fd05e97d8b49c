/** HTTP servers on loopback, each on a free port (port 0), for tests that read sources over HTTP. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class LoopbackServers {
  private readonly servers = new Map<string, Server>();
  private readonly sockets = new Set<Socket>();

  /** Starts a server answering with `handler`; its base URL, "http://127.0.0.1:PORT". */
  async serve(handler: Handler): Promise<string> {
    const server = createServer(handler);
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.servers.set(base, server);
    return base;
  }

  /** Stops the server at `base`: its port refuses connections from now on. */
  async close(base: string): Promise<void> {
    const server = this.servers.get(base);
    this.servers.delete(base);
    if (server) await new Promise((r) => server.close(r));
  }

  /** Ends every open connection and stops every server. */
  async closeAll(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([...this.servers.keys()].map((base) => this.close(base)));
  }
}
