/**
 * `vram-guard ledger`: the VRAM ledger from a shell: each GPU's memory by process tree, with the
 * residual no running process accounts for. Name the trees you know with --owner (a server's PID,
 * and its kind and port to ask it what it holds); everything else is listed as "other".
 */
import { collectLedger, ledgerText } from '../core/servers/ledger.ts';
import { ledgerView } from '../core/servers/ledger-view.ts';
import { reservationsPath } from '../core/servers/reservations.ts';
import { readRunRecords, runsDir } from '../core/servers/run-records.ts';
import { TaskRecordBook, taskRecordsPath } from '../core/servers/task-records.ts';
import type { Owner } from '../core/servers/server-registry.ts';
import { SERVER_KINDS, type ServerKind } from '../core/servers/task-definition.ts';
import { parseCommand, UsageError } from './args.ts';
import { GPU_OPTIONS_HELP, GPU_VALUE_FLAGS, gpuOptions, withOneSample } from './gpu-options.ts';
import type { CliIo } from './io.ts';

export const LEDGER_HELP = `vram-guard ledger [--owner NAME=PID[,kind=ollama,port=11434]] ... [--json] [options]

Each GPU's used memory by process tree: the owners you name, the other processes, and the
residual that belongs to no running process (memory a crashed server may still hold). A process
that a VS Code task or \`vram-guard run\` runs shows its uptime, restarts and last exit.

  --owner NAME=PID[,kind=K,port=P]  a process tree to name (repeat it); with kind (${SERVER_KINDS.join(', ')}) and port, the server is asked what it holds
  --json                          print JSON instead of text
${GPU_OPTIONS_HELP}

Exit codes: 0 printed, 2 no GPU source, 64 wrong usage.`;

/** Takes every --owner out of the arguments (the general parser keeps one value per flag). */
function takeOwners(args: readonly string[]): { owners: Owner[]; rest: string[] } {
  const owners: Owner[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === undefined) break;
    if (a === '--owner' || a.startsWith('--owner=')) {
      const v = a === '--owner' ? args[++i] : a.slice('--owner='.length);
      if (v === undefined || v.startsWith('--')) throw new UsageError('--owner needs a value such as llm=12345,kind=ollama,port=11434');
      owners.push(parseOwner(v));
    } else rest.push(a);
  }
  return { owners, rest };
}

export function parseOwner(text: string): Owner {
  const [head = '', ...pairs] = text.split(',');
  const m = /^([^=]+)=(\d+)$/.exec(head.trim());
  if (!m) throw new UsageError(`--owner "${text}": start with NAME=PID, e.g. llm=12345`);
  const pid = Number(m[2]);
  if (!(pid > 0 && pid <= 4_194_304)) throw new UsageError(`--owner "${text}": ${m[2]} is not a process ID`);
  let kind: ServerKind | 'task' = 'task';
  let port: number | null = null;
  for (const pair of pairs) {
    const [key, value = ''] = pair.split('=').map((x) => x.trim());
    if (key === 'kind') {
      if (!(SERVER_KINDS as readonly string[]).includes(value)) throw new UsageError(`--owner "${text}": kind must be one of ${SERVER_KINDS.join(', ')}`);
      kind = value as ServerKind;
    } else if (key === 'port') {
      port = Number(value);
      if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new UsageError(`--owner "${text}": port must be 1 to 65535`);
    } else throw new UsageError(`--owner "${text}": unknown key "${key}" (kind, port)`);
  }
  if (port !== null && kind === 'task') throw new UsageError(`--owner "${text}": a port needs the server's kind too`);
  return { name: (m[1] ?? '').trim(), kind, rootPid: pid, baseUrl: port === null ? null : `http://127.0.0.1:${port}`, gpu: null };
}

export async function runLedgerCommand(args: string[], io: CliIo): Promise<number> {
  const { owners, rest } = takeOwners(args);
  const parsed = parseCommand(rest, { booleans: ['json'], values: GPU_VALUE_FLAGS, help: LEDGER_HELP }, io);
  if (!parsed) return 0;
  const options = gpuOptions(parsed, io.env);
  return withOneSample(options, io, async (sample, source) => {
    const runRecords = await readRunRecords(runsDir(reservationsPath(io.env)));
    // The tasks VS Code windows run: their uptime, restarts and last exit.
    const tasks = await new TaskRecordBook(taskRecordsPath(reservationsPath(io.env))).read();
    if (tasks.problem) io.stderr(`vram-guard ledger: ${tasks.problem}\n`);
    const ledger = await collectLedger(sample, owners, { runRecords, taskRecords: tasks.records });
    io.stdout(
      parsed.flags.has('json') ? `${JSON.stringify(ledgerView(ledger, sample.timestamp, null), null, 2)}\n` : `${source.description}\n${ledgerText(ledger)}\n`,
    );
    return 0;
  });
}
