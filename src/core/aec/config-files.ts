/**
 * Finds the PipeWire configuration files that load the echo-cancel module, in the order PipeWire
 * reads them: the user's (`$XDG_CONFIG_HOME/pipewire`), the administrator's (`/etc/pipewire`) and
 * the distribution's (`/usr/share/pipewire`), each `pipewire.conf`, `pipewire-pulse.conf` and
 * their `.conf.d` folders.
 */
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function configRoots(env: NodeJS.ProcessEnv): string[] {
  const roots: string[] = [];
  if (env.PIPEWIRE_CONFIG_DIR) roots.push(env.PIPEWIRE_CONFIG_DIR);
  const home = env.HOME || homedir();
  roots.push(join(env.XDG_CONFIG_HOME || join(home, '.config'), 'pipewire'));
  roots.push('/etc/pipewire', '/usr/share/pipewire');
  return [...new Set(roots)];
}

/** True when the text loads the echo-cancel module outside comments. */
export function loadsEchoCancel(text: string): boolean {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .some((line) => /\b(libpipewire-module-echo-cancel|module-echo-cancel)\b/.test(line));
}

async function listConf(dir: string): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names
      .filter((n) => n.endsWith('.conf'))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** Every readable configuration file that loads the echo-cancel module. */
export async function findEchoCancelConfig(env: NodeJS.ProcessEnv): Promise<string[]> {
  const found: string[] = [];
  for (const root of configRoots(env)) {
    for (const base of ['pipewire', 'pipewire-pulse']) {
      const files = [join(root, `${base}.conf`), ...(await listConf(join(root, `${base}.conf.d`)))];
      for (const file of files) {
        try {
          if (loadsEchoCancel(await readFile(file, 'utf8'))) found.push(file);
        } catch {
          // Not there or not readable: not the one.
        }
      }
    }
  }
  return found;
}
