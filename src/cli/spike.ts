/**
 * `vram-guard spike`: the VRAM budget spike from a shell. Starts the servers given with --server (or
 * in a JSON spec file), measures baseline → each server → the concurrent peak, decides GO / NO-GO
 * against the WARNING threshold, prints the report and saves it (Markdown and JSON) under --out.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { systemClock } from '../core/clock.ts';
import { processLauncher } from '../core/checks/spike-launcher.ts';
import { sendLoad } from '../core/checks/spike-load.ts';
import { spikeJson, spikeMarkdown, spikeSummary } from '../core/checks/spike-report.ts';
import { saveSpikeReport, SPIKES_DIR } from '../core/checks/spike-save.ts';
import { DEFAULT_TIMING, validateSpikeSpec, type TimingKey } from '../core/checks/spike-spec.ts';
import { runSpike, type SpikeReport } from '../core/checks/spike.ts';
import { collectLedger } from '../core/servers/ledger.ts';
import { parseCommand, stringFlag, UsageError } from './args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions } from './gpu-options.ts';
import type { CliIo } from './io.ts';
import { parseServerFlag, SERVER_FLAG_HELP } from './server-flag.ts';
import { errorMessage } from '../core/errors.ts';

export const SPIKE_EXIT = { go: 0, noGo: 1, noSource: 2, incomplete: 4 } as const;

/** Flag → the spec file's timing key. */
const TIMING_FLAGS: Record<string, TimingKey> = {
  settle: 'settleSeconds',
  samples: 'samples',
  'measure-interval': 'measureIntervalMs',
  'sample-interval': 'sampleIntervalMs',
  rounds: 'rounds',
  'peak-window': 'peakWindowSeconds',
  'request-timeout': 'requestTimeoutSeconds',
  'stop-timeout': 'stopTimeoutSeconds',
};

export const SPIKE_HELP = `vram-guard spike (--server 'KEY=VALUE,...' ... | --spec FILE.json) [options]

The VRAM budget spike: baseline (settle, median of N samples) → start each server in order, settle,
measure → every server under load at once for R rounds while VRAM is sampled at least 10 times a
second → stop the servers. GO when the peak stays below the WARNING threshold, NO-GO otherwise.
The report (the table, headroom at peak, the decision with its margin, each server's VRAM from
NVML and from the server itself) is printed and saved as Markdown and JSON in --out, under a new
timestamped name. Ctrl-C cancels at any step: what was measured is saved, marked incomplete, and
every server the spike started is stopped (SIGTERM, then SIGKILL). The servers are always stopped
at the end (their output flows through vram-guard, so they cannot outlive it).

${SERVER_FLAG_HELP}
  --spec FILE                     a JSON spec: { "servers": [ { "name", "server", "command", "args", "env", "port", "healthUrl", "load" } ], ... }
  --gpu N                         the GPU to measure (default 0)
  --settle SECONDS                wait before each measurement (default ${DEFAULT_TIMING.settleMs / 1000})
  --samples N                     samples per measurement, the median kept (default ${DEFAULT_TIMING.samples})
  --measure-interval MS           between those samples (default ${DEFAULT_TIMING.measureIntervalMs})
  --rounds R                      rounds of concurrent load (default ${DEFAULT_TIMING.rounds})
  --sample-interval MS            sampling during the load, 10 to 100 (default ${DEFAULT_TIMING.peakIntervalMs})
  --peak-window SECONDS           sample the load at least this long (default ${DEFAULT_TIMING.peakWindowMs / 1000})
  --request-timeout SECONDS       one load request may take this long (default ${DEFAULT_TIMING.requestTimeoutMs / 1000})
  --stop-timeout SECONDS          SIGTERM → SIGKILL grace (default ${DEFAULT_TIMING.stopTimeoutMs / 1000})
  --out DIR                       where reports are saved (default ${SPIKES_DIR} here)
  --json                          print the JSON report instead of Markdown
${GPU_OPTIONS_HELP}

Exit codes: 0 GO, 1 NO-GO, 2 no GPU source (nothing started), 4 incomplete (cancelled, or a server
            failed to start), 64 wrong usage.`;

const BOOLEANS = ['json', 'help'] as const;
const VALUES = ['spec', 'gpu', 'out', ...Object.keys(TIMING_FLAGS), ...GPU_VALUE_FLAGS] as const;

/** Takes every `--server` out of `args` (the general parser keeps one value per flag). */
function takeServerFlags(args: readonly string[]): { servers: string[]; rest: string[] } {
  const servers: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === undefined) break;
    if (a === '--server') {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError('--server needs a value such as name=llm,kind=ollama,port=11434,model=llama3.2:3b');
      servers.push(v);
    } else if (a.startsWith('--server=')) servers.push(a.slice('--server='.length));
    else rest.push(a);
  }
  return { servers, rest };
}

async function readSpecFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--spec: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--spec: ${path} is not JSON: ${errorMessage(err)}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new UsageError(`--spec: ${path} must hold a JSON object with "servers": [...]`);
  return json as Record<string, unknown>;
}

export function spikeExitCode(report: SpikeReport): number {
  if (report.status !== 'complete' || !report.decision) return SPIKE_EXIT.incomplete;
  return report.decision.verdict === 'GO' ? SPIKE_EXIT.go : SPIKE_EXIT.noGo;
}

export async function runSpikeCommand(args: string[], io: CliIo): Promise<number> {
  const { servers, rest } = takeServerFlags(args);
  const parsed = parseCommand(rest, { booleans: BOOLEANS, values: VALUES, help: SPIKE_HELP }, io);
  if (!parsed) return 0;
  const specPath = stringFlag(parsed, 'spec');
  if (specPath !== undefined && servers.length) throw new UsageError('give the servers either with --server or in the --spec file, not both');
  if (specPath === undefined && !servers.length)
    throw new UsageError("say which servers to start: --server 'name=llm,kind=ollama,port=11434,model=llama3.2:3b' (once per server), or --spec FILE.json");
  const raw: Record<string, unknown> = specPath !== undefined ? await readSpecFile(specPath) : { servers: servers.map(parseServerFlag) };
  for (const [flag, key] of Object.entries(TIMING_FLAGS)) {
    const v = stringFlag(parsed, flag);
    if (v !== undefined) raw[key] = v;
  }
  const gpuText = stringFlag(parsed, 'gpu');
  if (gpuText !== undefined) raw.gpu = /^\d+$/.test(gpuText) ? Number(gpuText) : gpuText;
  const validated = validateSpikeSpec(raw, specPath ?? 'The servers');
  if (!validated.ok) throw new UsageError(validated.problems.join('\n  '));
  const spec = validated.spec;
  // The servers' output flows through this process's pipes: they cannot outlive it safely.
  if (spec.leaveRunning) throw new UsageError('"leaveRunning" is for the editor\'s command: the command line stops the servers it started when it ends');
  const options = gpuOptions(parsed, io.env);
  const out = resolve(stringFlag(parsed, 'out') ?? SPIKES_DIR);
  const json = parsed.flags.has('json');

  const opened = await options.probe();
  if (!opened.ok) {
    io.stderr(`vram-guard spike: no GPU source available, so nothing was started: ${opened.reason}\n`);
    return SPIKE_EXIT.noSource;
  }
  const source = opened.source;
  const controller = new AbortController();
  void io.interrupted.then(() => {
    if (!controller.signal.aborted) io.stderr('spike: cancelling: stopping what was started…\n');
    controller.abort();
  });
  let report: SpikeReport;
  try {
    report = await runSpike(
      spec,
      {
        sample: () => source.sample(Date.now()),
        source: { kind: source.kind, description: source.description },
        thresholds: options.thresholds,
        clock: systemClock,
        launcher: processLauncher({ stopTimeoutMs: spec.timing.stopTimeoutMs }),
        load: sendLoad,
        ledger: (sample, owners) => collectLedger(sample, owners),
      },
      { signal: controller.signal, onProgress: (p) => io.stderr(`spike: ${p.message}\n`) },
    );
  } finally {
    await source.dispose();
  }
  io.stdout(json ? `${JSON.stringify(spikeJson(report), null, 2)}\n` : spikeMarkdown(report));
  try {
    const saved = await saveSpikeReport(out, report);
    io.stderr(`spike: ${spikeSummary(report)}\nspike: saved ${saved.markdownPath} and ${saved.jsonPath}\n`);
  } catch (err) {
    io.stderr(`spike: ${spikeSummary(report)}\nspike: the report could not be saved in ${out}: ${errorMessage(err)}\n`);
  }
  return spikeExitCode(report);
}
