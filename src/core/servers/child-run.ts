/**
 * Runs a command as `vram-guard run` does: its output passed through byte for byte (and shown to a
 * watcher on the way), the signals this process receives passed on to it, and its end
 * turned into an exit status — its own code, or 128 + the signal that ended it, as a shell does.
 *
 * Without a terminal (a unit, a script) the child gets a process group of its own and every signal
 * run receives is passed on, once. At a terminal (`sharedGroup`) it stays in run's group, the
 * terminal's foreground, so that it may read the terminal: Ctrl-C, Ctrl-\ and a hangup reach it from
 * the terminal itself, and run only passes on SIGTERM and SIGUSR2 (sent to run alone), staying alive
 * until the child is gone.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { errorMessage } from '../errors.ts';
import { signalQuietly } from './process-tree.ts';

export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];
/** The signals a terminal sends to its whole foreground group: the child gets them from it. */
const TERMINAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT', 'SIGHUP'];

export interface ChildRunOptions {
  /** The resolved executable. */
  file: string;
  /** argv[0] as the user wrote it (what /proc shows). */
  argv0: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
  /** Each chunk of output, as it passes through (to watch it for CUDA errors). */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** Run at a terminal: the child shares run's process group (see above). */
  sharedGroup?: boolean;
  /** After the child exits, how long to wait for its output to drain when something else holds the pipe (default 2 s). */
  drainMs?: number;
}

export interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What `run` exits with: the code, else 128 + the signal's number. */
  status: number;
  /** Set when it could not be started at all. */
  startError: string | null;
}

export interface RunningChild {
  pid: number | undefined;
  ended: Promise<ChildEnd>;
}

export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

export function runChild(o: ChildRunOptions): RunningChild {
  const shared = o.sharedGroup === true;
  const child = spawn(o.file, [...o.args], { argv0: o.argv0, env: o.env, stdio: ['inherit', 'pipe', 'pipe'], detached: !shared });
  const forward = (signal: NodeJS.Signals) => {
    // At a terminal, the child already has the terminal's signals: run only outlives them.
    if (shared && TERMINAL_SIGNALS.includes(signal)) return;
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) signalQuietly(child.pid, signal);
  };
  const handlers = FORWARDED_SIGNALS.map((s) => [s, () => forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  for (const [stream, from, to] of [
    ['stdout', child.stdout, o.stdout],
    ['stderr', child.stderr, o.stderr],
  ] as const) {
    from.on('data', (chunk: Buffer) => o.onOutput?.(chunk, stream));
    from.pipe(to, { end: false });
  }
  const ended = new Promise<ChildEnd>((resolve) => {
    let done = false;
    const finish = (end: ChildEnd) => {
      if (done) return;
      done = true;
      for (const [s, h] of handlers) process.off(s, h);
      resolve(end);
    };
    child.once('error', (err) =>
      finish({ code: null, signal: null, status: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126, startError: errorMessage(err) }),
    );
    child.once('exit', (code, signal) => {
      const end = { code, signal, status: exitStatus(code, signal), startError: null };
      // Its output is complete once both pipes close; a grandchild that kept them open is not waited for long.
      const timer = setTimeout(() => finish(end), o.drainMs ?? 2000);
      child.once('close', () => {
        clearTimeout(timer);
        finish(end);
      });
    });
  });
  return { pid: child.pid, ended };
}
