/**
 * `vram-guard fleet`: every GPU of every host, read from a Prometheus and/or exporters directly,
 * and with `--need` (or `--model`), where it fits: every GPU ranked by the room left after it.
 */
import { readFile } from 'node:fs/promises';
import { rankFleet } from '../core/fleet/fleet-rank.ts';
import { FleetRefresher } from '../core/fleet/fleet-refresh.ts';
import { readFleetSettings } from '../core/fleet/fleet-settings.ts';
import { fleetTable, marginText, rankingTable, sourcesText } from '../core/report/fleet-text.ts';
import { parseSize, type SizeSpec } from '../core/units.ts';
import { parseCommand, stringFlag, thresholdFlags, UsageError } from './args.ts';
import { modelNeed } from './fleet-need.ts';
import type { CliIo } from './io.ts';
import { errorMessage } from '../core/errors.ts';

export const FLEET_HELP = `vram-guard fleet [--prometheus URL] [--targets URL,URL…] [--need 20GiB | --model F.gguf [--args "…"]]
                 [--margin 1GiB] [--json] [--timeout 5]

Every GPU of every host: used / total, level, who holds the memory, the last hour. From a
Prometheus that scrapes VRAM Guard exporters or dcgm-exporters, and/or from exporters read directly.
With --need or --model: where it fits, every GPU ranked by the room left after it.

  --prometheus URL                Prometheus' base URL (else $VRAM_GUARD_FLEET_PROMETHEUS)
  --targets URL,URL               exporter /metrics URLs read directly (else $VRAM_GUARD_FLEET_TARGETS)
  --token-file PATH               a bearer token for Prometheus, read from a file
                                  (else $VRAM_GUARD_PROMETHEUS_TOKEN; never on the command line)
  --need SIZE                     rank the GPUs for this need, e.g. 20GiB
  --model PATH                    rank them for a GGUF model's estimate instead
  --args "…"                      the llama-server arguments that size it (-c, -np, -ctk, -fa)
  --margin SIZE                   free VRAM to keep beyond the need (default 1GiB; a % of each GPU's total works)
  --thresholds warning=80%,critical=90%,emergency=95%
                                  levels for hosts that do not publish their own
  --timeout SECONDS               per source (default 5)
  --json                          print JSON (bytes, milliseconds since the epoch)

Exit codes: 0 read (with --need: some GPU fits), 1 with --need: no GPU fits, 4 no source answered,
            64 wrong usage.`;

export const EXIT_NO_FIT = 1;
export const EXIT_NO_FLEET = 4;
const MAX_TOKEN_BYTES = 16 * 1024;

export async function runFleetCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(
    args,
    {
      booleans: ['json'],
      values: ['prometheus', 'targets', 'token-file', 'need', 'model', 'args', 'margin', 'thresholds', 'hysteresis', 'timeout'],
      rawValues: ['args'],
      help: FLEET_HELP,
    },
    io,
  );
  if (!parsed) return 0;
  const targetsText = stringFlag(parsed, 'targets') ?? io.env.VRAM_GUARD_FLEET_TARGETS ?? '';
  const settings = readFleetSettings((key) =>
    key === 'fleet.prometheus'
      ? (stringFlag(parsed, 'prometheus') ?? io.env.VRAM_GUARD_FLEET_PROMETHEUS ?? '')
      : key === 'fleet.targets'
        ? targetsText
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean)
        : undefined,
  );
  if (settings.problems.length) throw new UsageError(settings.problems.join(' '));
  if (!settings.prometheus && !settings.targets.length) throw new UsageError('name a Prometheus (--prometheus URL) or exporters (--targets URL,URL)');
  const thresholds = thresholdFlags(parsed);
  const timeoutText = stringFlag(parsed, 'timeout');
  const timeoutS = timeoutText === undefined ? 5 : Number(timeoutText);
  if (!(timeoutS >= 0.1 && timeoutS <= 120)) throw new UsageError(`--timeout must be 0.1 to 120 seconds, not "${timeoutText}"`);
  const margin = sizeFlag(stringFlag(parsed, 'margin') ?? '1GiB', 'margin', true);
  const needText = stringFlag(parsed, 'need');
  const model = stringFlag(parsed, 'model');
  if (needText !== undefined && model !== undefined) throw new UsageError('give either --need or --model, not both');
  if (parsed.flags.has('args') && model === undefined) throw new UsageError('--args only applies with --model');
  const token = await readToken(stringFlag(parsed, 'token-file'), io.env);

  let need: { bytes: number; description: string } | null = null;
  if (needText !== undefined) {
    const spec = sizeFlag(needText, 'need', false);
    need = { bytes: spec.kind === 'bytes' ? spec.bytes : 0, description: '--need' };
  } else if (model !== undefined) {
    need = await modelNeed(model, stringFlag(parsed, 'args') ?? '', io.env);
  }

  const snapshot = await new FleetRefresher().refresh({
    prometheus: settings.prometheus,
    targets: settings.targets,
    token,
    ours: thresholds,
    staleAfterMs: 120_000,
    timeoutMs: timeoutS * 1000,
  });
  const answered = snapshot.sources.some((s) => s.ok);
  const places = need ? rankFleet(snapshot.hosts, need.bytes, margin) : null;
  if (parsed.flags.has('json')) {
    io.stdout(
      `${JSON.stringify({ at: snapshot.at, hosts: snapshot.hosts, sources: snapshot.sources, leftOut: snapshot.leftOut, need: need ? { bytes: need.bytes, from: need.description, marginText: marginText(margin), places } : null }, nullNaN, 2)}\n`,
    );
  } else if (need && places) {
    if (need.description !== '--need') io.stdout(`Estimate: ${need.description}\n`);
    io.stdout(rankingTable(places, need.bytes, marginText(margin), snapshot.at) + sourcesText(snapshot));
  } else {
    io.stdout(fleetTable(snapshot));
  }
  if (!answered) return EXIT_NO_FLEET;
  if (places) return places.some((p) => p.verdict === 'fits' || p.verdict === 'tight') ? 0 : EXIT_NO_FIT;
  return 0;
}

/** JSON has no NaN: a gap in a sparkline is null. */
function nullNaN(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

function sizeFlag(text: string, name: string, percentAllowed: boolean): SizeSpec {
  const spec = parseSize(text);
  if ('error' in spec) throw new UsageError(`--${name}: ${spec.error}`);
  if (spec.kind === 'percent' && !percentAllowed) throw new UsageError(`--${name} must be a size such as 20GiB, not a percentage`);
  return spec;
}

async function readToken(file: string | undefined, env: NodeJS.ProcessEnv): Promise<string | null> {
  if (file === undefined) return env.VRAM_GUARD_PROMETHEUS_TOKEN?.trim() || null;
  let text: string;
  try {
    const buf = await readFile(file);
    if (buf.length > MAX_TOKEN_BYTES) throw new UsageError(`--token-file ${file} is ${buf.length} bytes; a token is at most ${MAX_TOKEN_BYTES}`);
    text = buf.toString('utf8').trim();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--token-file ${file} could not be read: ${errorMessage(err)}`);
  }
  if (!text || /[\r\n]/.test(text)) throw new UsageError(`--token-file ${file} must hold one token on one line`);
  return text;
}
