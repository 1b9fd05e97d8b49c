/** Whether something already accepts connections on a host and port (a server left running, another program). */
import { createConnection } from 'node:net';

/** Resolves true when a TCP connection to host:port succeeds within `timeoutMs`; false when refused or silent. */
export function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (answered: boolean) => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The host and port a server will listen on: its health URL's, else 127.0.0.1 and the task's port. */
export function listenAddress(healthUrl: string | null, port: number | null): { host: string; port: number } | null {
  if (healthUrl) {
    try {
      const u = new URL(healthUrl);
      const p = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
      return { host: u.hostname.replace(/^\[|\]$/g, ''), port: p };
    } catch {
      // not a URL: fall through to the port
    }
  }
  return port !== null ? { host: '127.0.0.1', port } : null;
}

/**
 * Before a start: a sentence when something already answers where the server will listen (it would
 * pass the health check for the new server, which dies with EADDRINUSE); null when the port is free.
 */
export async function portInUse(healthUrl: string | null, port: number | null): Promise<string | null> {
  const address = listenAddress(healthUrl, port);
  if (!address || !(await portAnswers(address.host, address.port))) return null;
  return `Port ${address.port} is already in use by another process (something answers at ${address.host}:${address.port} before the server started), so it was not started. Stop that process, or give the task another "port".`;
}
