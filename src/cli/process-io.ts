/**
 * The CLI as a process: its output, Ctrl-C and SIGTERM, a closed output pipe, and leaving.
 *
 * - Ctrl-C or SIGTERM: a command that stops by itself (watch, exporter, aec; spike, which first stops
 *   the servers it started; run, whose command gets the signal) is told through `io.interrupted`;
 *   any other leaves at once. No command
 *   waits for the GPU driver to leave (NVML runs in a worker process that is killed).
 * - A second Ctrl-C or SIGTERM leaves at once, whatever is still running.
 * - A closed output pipe (`vram-guard watch | head -1`) ends the command quietly with status 0.
 */
import type { CliIo } from './io.ts';

/** What the shell reports for a command a signal ended: 128 + the signal's number. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/**
 * The commands that stop by themselves when interrupted, and how long they get before the process
 * leaves anyway (null: no bound; the spike stops the servers it started, each within its own stop
 * timeout; run passes the signal on to its command and leaves with the command's status; a second
 * Ctrl-C leaves at once).
 */
const STOP_GRACE_MS: Readonly<Record<string, number | null>> = { watch: 500, exporter: 500, aec: 500, spike: null, run: null };

/** After its command has ended, the process leaves at most this much later, whatever is left running. */
const LINGER_MS = 1000;

/** Runs `main` as this process's command line: wires the signals and the pipes, and leaves with its code. */
export function runAsProcess(main: (argv: string[], io: CliIo) => Promise<number>, argv: string[]): void {
  const command = argv[0] ?? '';
  let interrupt = (): void => {};
  const interrupted = new Promise<void>((resolve) => {
    interrupt = resolve;
  });
  let stopping = false;
  let outputClosed = false;

  /** Starts the command's stop; leaves at once when the command does not stop by itself, or after its grace. */
  const stop = (reason: StopSignal | 'closed output'): void => {
    const code = reason === 'closed output' ? 0 : SIGNAL_EXIT_CODES[reason];
    if (stopping) {
      if (reason !== 'closed output') process.exit(code);
      return;
    }
    stopping = true;
    interrupt();
    const grace = Object.hasOwn(STOP_GRACE_MS, command) ? STOP_GRACE_MS[command] : 0;
    if (grace === 0 || grace === undefined) process.exit(code);
    else if (grace !== null) setTimeout(() => process.exit(code), grace).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    outputClosed = true;
    stop('closed output');
  });
  // Nowhere left to say anything: stderr's own errors are dropped.
  process.stderr.on('error', () => {});

  const io: CliIo = {
    stdout: (text) => {
      if (!outputClosed) process.stdout.write(text);
    },
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    interrupted,
  };
  void main(argv, io).then((code) => {
    const exitCode = outputClosed ? 0 : code;
    process.exitCode = exitCode;
    setTimeout(() => process.exit(exitCode), LINGER_MS).unref();
  });
}
