/**
 * The `vram-guard` command line, over the same core as the extension.
 */
import { runAecCommand } from './cli/aec.ts';
import { nearest, UsageError } from './cli/args.ts';
import { runFallbackCommand } from './cli/fallback.ts';
import { runHistoryCommand } from './cli/history.ts';
import { runLedgerCommand } from './cli/ledger.ts';
import { runFleetCommand } from './cli/fleet.ts';
import { runExporterCommand } from './cli/exporter.ts';
import type { CliIo } from './cli/io.ts';
import { runAsProcess } from './cli/process-io.ts';
import { runPreflightCommand } from './cli/preflight.ts';
import { runRunCommand } from './cli/run.ts';
import { runSpikeCommand } from './cli/spike.ts';
import { runStatusCommand } from './cli/status.ts';
import { runWatchCommand } from './cli/watch.ts';
import { errorMessage } from './core/errors.ts';

const USAGE = `Usage: vram-guard <command> [options]

Commands:
  status     one sample of every GPU (--json for machines)
  watch      sample until interrupted, with level changes
  preflight  is there room for a model server? (exit 0 pass, 1 fail, 3 warn with --fail-on-warn)
  run        run a model server only when it fits: run [--need 6GiB] -- llama-server … (its exit status; 1 no room)
  aec        verify the PipeWire echo-cancellation device (exit 0 pass, 1 fail, 3 warn with --fail-on-warn, 4 not available)
  spike      VRAM budget spike: start servers, load them at once, GO / NO-GO (exit 0 GO, 1 NO-GO, 2 no GPU, 4 incomplete)
  fallback   the fallback chain: --dry-run says what each step would do; --step N --yes runs one
  history    export, import or analyze the dashboard's VRAM history (history export|import|analyze)
  ledger     each GPU's memory by process tree, and the residual no process accounts for
  fleet      every GPU of every host from Prometheus or exporters; --need 20GiB: where it fits
  exporter   serve this machine's GPUs to Prometheus on /metrics (default 127.0.0.1:9835)

Run "vram-guard <command> --help" for a command's options.
`;

const EXIT_USAGE = 64;

const COMMANDS: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  status: runStatusCommand,
  watch: runWatchCommand,
  preflight: runPreflightCommand,
  run: runRunCommand,
  spike: runSpikeCommand,
  aec: runAecCommand,
  fallback: runFallbackCommand,
  history: runHistoryCommand,
  ledger: runLedgerCommand,
  fleet: runFleetCommand,
  exporter: runExporterCommand,
};

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help' || command === '-h') {
    io.stdout(USAGE);
    return command ? 0 : EXIT_USAGE;
  }
  const run = COMMANDS[command];
  if (!run) {
    const near = nearest(command, Object.keys(COMMANDS));
    io.stderr(`vram-guard: unknown command "${command}"${near ? ` (did you mean "${near}"?)` : ''}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    return await run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`vram-guard ${command}: ${err.message}\nRun "vram-guard ${command} --help" for the options.\n`);
      return EXIT_USAGE;
    }
    io.stderr(`vram-guard ${command}: ${errorMessage(err)}\n`);
    return 1;
  }
}

// Run when executed (the bundled dist/cli.cjs, or `node src/cli.ts`), not when imported by tests.
const entry = process.argv[1] ?? '';
if (/(?:^|[\\/])(?:cli\.(?:cjs|ts)|vram-guard)$/.test(entry)) runAsProcess(main, process.argv.slice(2));
