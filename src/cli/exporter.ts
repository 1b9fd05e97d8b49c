/**
 * `vram-guard exporter`: serves this machine's GPUs to Prometheus on /metrics until interrupted
 * (runs as a user service; docs/vram-guard-exporter.service). Tasks and model servers are named
 * from the servers files the extension keeps in VRAM Guard's state folder.
 */
import { access } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { type RunningExporter, startExporter } from '../core/exporter/exporter.ts';
import { DEFAULT_LISTEN, type ListenAddress, parseListenAddress } from '../core/exporter/listen-address.ts';
import { readServersDir, serversDirPath } from '../core/exporter/servers-file.ts';
import { resolveStateDir } from '../core/state-dir.ts';
import { parseCommand, stringFlag, UsageError } from './args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions, cliWatcher } from './gpu-options.ts';
import type { CliIo } from './io.ts';
import { errorMessage } from '../core/errors.ts';

export const HOSTNAME_ENV = 'VRAM_GUARD_HOSTNAME';

export const EXPORTER_HELP = `vram-guard exporter [--listen 127.0.0.1:9835] [options]

Serves this machine's GPUs to Prometheus at http://ADDRESS/metrics until interrupted: memory,
levels and thresholds per GPU, memory per process with its task or model server, the residual,
what each server reports, the sampler's health, and dcgm-exporter's names for the memory gauges.
A scrape reads the latest sample; it never calls the driver.

  --listen HOST:PORT              where to listen (default ${DEFAULT_LISTEN}: this machine only);
                                  0.0.0.0:9835 or [::]:9835 for every interface
  --hostname NAME                 the hostname label (default $${HOSTNAME_ENV}, else this machine's name)
  --servers-dir DIR               the tasks and servers to name: the files each VS Code window keeps
                                  there (default: servers/ in VRAM Guard's state folder)
  --no-dcgm-names                 leave out the DCGM_FI_DEV_FB_* gauges
  --interval MS                   sampling interval in milliseconds (default 1000; adapts unless --fixed-rate)
  --fixed-rate                    always sample at --interval
${GPU_OPTIONS_HELP}`;

/** Where the exporter listens: `--listen`, else the default (this machine only). */
export function listenAddressOf(flag: string | undefined): ListenAddress {
  const address = parseListenAddress(flag ?? DEFAULT_LISTEN);
  if ('error' in address) throw new UsageError(`--listen: ${address.error}`);
  return address;
}

export async function runExporterCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(
    args,
    { booleans: ['no-dcgm-names', 'fixed-rate'], values: [...GPU_VALUE_FLAGS, 'listen', 'hostname', 'servers-dir', 'interval'], help: EXPORTER_HELP },
    io,
  );
  if (!parsed) return 0;
  const address = listenAddressOf(stringFlag(parsed, 'listen'));
  const hostnameFlag = stringFlag(parsed, 'hostname');
  const hostname = checkHostname(
    hostnameFlag ?? io.env[HOSTNAME_ENV] ?? osHostname(),
    hostnameFlag !== undefined ? '--hostname' : io.env[HOSTNAME_ENV] !== undefined ? `$${HOSTNAME_ENV}` : "this machine's name",
  );
  const intervalText = stringFlag(parsed, 'interval') ?? '1000';
  const intervalMs = Number(intervalText);
  if (!Number.isFinite(intervalMs) || intervalMs < 50) throw new UsageError(`--interval must be a number of milliseconds, at least 50 (got "${intervalText}")`);
  const options = gpuOptions(parsed, io.env);
  const serversDir =
    stringFlag(parsed, 'servers-dir') ??
    serversDirPath(
      await resolveStateDir(
        (p) =>
          access(p).then(
            () => true,
            () => false,
          ),
        io.env,
      ),
    );

  // Each warning once (a service runs for weeks: the memory of what was said is bounded).
  const warned = new Set<string>();
  const warn = (message: string) => {
    if (warned.has(message)) return;
    if (warned.size >= 500) warned.clear();
    warned.add(message);
    io.stderr(`vram-guard exporter: ${message}\n`);
  };
  const watcher = cliWatcher(options, intervalMs, parsed.flags.has('fixed-rate'));
  watcher.on('status', (s) => {
    if (s.state === 'none') warn(`no GPU source: ${s.reason} (serving vram_guard_source_up 0 meanwhile)`);
    else if (s.state === 'ready') io.stdout(`sampling ${s.source.description}\n`);
  });
  watcher.on('problems', (problems) => problems.forEach(warn));
  watcher.on('error', (err) => warn(`sample failed: ${err.message}`));

  let exporter: RunningExporter;
  try {
    exporter = await startExporter({
      watcher,
      hostname,
      address,
      dcgmNames: !parsed.flags.has('no-dcgm-names'),
      owners: async () => {
        const reading = await readServersDir(serversDir);
        reading.problems.forEach(warn);
        return reading.owners;
      },
      log: warn,
    });
  } catch (err) {
    io.stderr(`vram-guard exporter: ${errorMessage(err)}\n`);
    return 1;
  }
  watcher.start();
  io.stdout(`serving ${exporter.url} for host ${hostname}${address.loopback ? ' (this machine only)' : ''}\n`);
  io.stdout(`naming tasks and servers from ${serversDir}\n`);
  await io.interrupted;
  await exporter.close();
  await watcher.stop();
  return 0;
}

function checkHostname(name: string, from: string): string {
  const value = name.trim();
  const printable = [...value].every((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f);
  if (!value || value.length > 253 || !printable) {
    throw new UsageError(
      `the hostname label (from ${from}) must be 1 to 253 printable characters, got ${JSON.stringify(name.slice(0, 100))}; set it with --hostname NAME`,
    );
  }
  return value;
}
