/**
 * Where the exporter listens: `host:port`, `[v6]:port` or a bare port (loopback). Loopback unless
 * the user names another address; an address meaning "every interface" must be written out
 * (`0.0.0.0:9835`, `[::]:9835`), never implied by a missing host (Go's `:9835`).
 */
import { isIP } from 'node:net';

export const DEFAULT_EXPORTER_PORT = 9835;
export const DEFAULT_LISTEN = `127.0.0.1:${DEFAULT_EXPORTER_PORT}`;

export interface ListenAddress {
  /** An IP literal (v6 without brackets) or a host name to resolve. */
  host: string;
  port: number;
  /** Whether only this machine can connect (127.0.0.0/8, ::1, localhost). */
  loopback: boolean;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const EXAMPLES = 'write it like 127.0.0.1:9835 (this machine only), 0.0.0.0:9835 (every interface), [::1]:9835, or a port alone (9835, on 127.0.0.1)';

/** Parses a listen address; returns a sentence saying what is wrong instead of throwing. */
export function parseListenAddress(text: unknown): ListenAddress | { error: string } {
  if (typeof text !== 'string') return { error: `the listen address must be a string, got ${JSON.stringify(text)}: ${EXAMPLES}` };
  const value = text.trim();
  const quoted = JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  if (!value) return { error: `the listen address is empty: ${EXAMPLES}` };
  let host: string;
  let portText: string;
  if (/^\d+$/.test(value)) {
    host = '127.0.0.1';
    portText = value;
  } else if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') return { error: `${quoted} is not a listen address: an IPv6 address needs brackets and a port, ${EXAMPLES}` };
    host = value.slice(1, close);
    portText = value.slice(close + 2);
    if (isIP(host) !== 6) return { error: `${quoted}: "${host}" is not an IPv6 address; ${EXAMPLES}` };
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return { error: `${quoted} has no port: ${EXAMPLES}` };
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (!host) return { error: `${quoted} names no address: say which one, 0.0.0.0${value} for every interface or 127.0.0.1${value} for this machine only` };
    if (host.includes(':')) return { error: `${quoted}: an IPv6 address needs brackets, e.g. [::1]:9835` };
    if (isIP(host) !== 4 && !HOSTNAME.test(host)) return { error: `${quoted}: "${host}" is neither an IP address nor a host name; ${EXAMPLES}` };
  }
  if (!/^\d{1,5}$/.test(portText)) return { error: `${quoted}: the port must be a number from 1 to 65535 (or 0: any free port), got "${portText}"` };
  const port = Number(portText);
  if (port > 65535) return { error: `${quoted}: the port must be a number from 1 to 65535 (or 0: any free port), got ${port}` };
  return { host, port, loopback: isLoopbackHost(host) };
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `host:port` as a URL's authority (brackets around IPv6). */
export function formatListenAddress(address: { host: string; port: number }): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
