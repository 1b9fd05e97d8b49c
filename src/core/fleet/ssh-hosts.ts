/**
 * The hosts of an OpenSSH client config (`~/.ssh/config`): each `Host` alias without wildcards,
 * with its `HostName` when given. A fleet host matches an alias or a HostName (case-insensitive);
 * the alias is what Remote-SSH connects to.
 */
import { MiB } from '../units.ts';

export interface SshHost {
  alias: string;
  hostName: string | null;
}

export const MAX_SSH_CONFIG_BYTES = MiB;

export function parseSshHosts(text: string): SshHost[] {
  const out: SshHost[] = [];
  let current: SshHost[] = [];
  for (const raw of text.slice(0, MAX_SSH_CONFIG_BYTES).split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    const [, rawKey, rawValue] = m ?? [];
    if (rawKey === undefined || rawValue === undefined) continue;
    const key = rawKey.toLowerCase();
    const value = rawValue.trim();
    if (key === 'host') {
      current = value
        .split(/\s+/)
        .map((a) => a.replace(/^"|"$/g, ''))
        .filter((a) => a && !/[*?!]/.test(a))
        .map((alias) => ({ alias, hostName: null }));
      out.push(...current);
    } else if (key === 'match') {
      current = [];
    } else if (key === 'hostname') {
      for (const h of current) h.hostName ??= value.replace(/^"|"$/g, '');
    }
  }
  return out;
}

/** The alias to connect to for a fleet host's name (its name, or its name without a domain), or null. */
export function sshAliasFor(hostName: string, hosts: readonly SshHost[]): string | null {
  const wanted = hostName.replace(/ \(.*\)$/, '').toLowerCase();
  const short = wanted.split('.')[0] ?? wanted;
  for (const h of hosts) {
    const alias = h.alias.toLowerCase();
    const target = h.hostName?.toLowerCase() ?? null;
    if (alias === wanted || target === wanted || alias === short || (target !== null && target.split('.')[0] === short)) return h.alias;
  }
  return null;
}
