/**
 * How a spike starts and stops its servers: each as a `ServerProcess` (an argument array, never a
 * shell; health polling; SIGTERM, wait, SIGKILL for the whole tree). A cancelled start stops the
 * process it spawned before it returns, so nothing is left behind.
 */
import { portInUse } from '../servers/port-probe.ts';
import { ServerProcess, type StartResult, type StopResult } from '../servers/server-process.ts';
import type { SpikeServer } from './spike-spec.ts';

export interface LaunchedServer {
  pid: number;
  /** Stops the server and its process tree. */
  stop(): Promise<StopResult>;
  /** Whether it has exited (on its own, or stopped). */
  exited(): boolean;
  lastLines(): string[];
}

export type LaunchResult = { ok: true; server: LaunchedServer; readyMs: number } | { ok: false; message: string; lastLines: string[]; cancelled: boolean };

export interface SpikeLauncher {
  /** Starts `server` and waits until it is ready; on failure or cancel nothing of it is left running. */
  start(server: SpikeServer, signal: AbortSignal): Promise<LaunchResult>;
}

export interface ProcessLauncherOptions {
  stopTimeoutMs: number;
  healthIntervalMs?: number;
  /** The servers' own output, as it comes (for a log). */
  onOutput?: (server: string, text: string) => void;
}

export function processLauncher(options: ProcessLauncherOptions): SpikeLauncher {
  return {
    async start(server, signal) {
      if (signal.aborted) return { ok: false, message: 'cancelled before it started', lastLines: [], cancelled: true };
      const taken = await portInUse(server.task.healthUrl, server.task.port);
      if (taken) return { ok: false, message: taken, lastLines: [], cancelled: false };
      if (signal.aborted) return { ok: false, message: 'cancelled before it started', lastLines: [], cancelled: true };
      const [command, ...fixed] = server.task.command;
      if (command === undefined) return { ok: false, message: 'the task gives no command to run', lastLines: [], cancelled: false };
      const p = new ServerProcess({
        command,
        args: [...fixed, ...server.task.args],
        env: server.task.env,
        cwd: server.task.cwd ?? undefined,
        healthUrl: server.task.healthUrl,
        startTimeoutMs: server.task.startTimeoutSeconds * 1000,
        stopTimeoutMs: options.stopTimeoutMs,
        healthIntervalMs: options.healthIntervalMs,
      });
      const onOutput = options.onOutput;
      if (onOutput) p.on('output', (text) => onOutput(server.name, text));
      // `start` spawns before its first await, so a cancel from here on has a process to stop.
      const starting = p.start();
      let stopping: Promise<StopResult> | null = null;
      const onAbort = () => {
        stopping ??= p.stop();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let r: StartResult;
      try {
        r = await starting;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      if (r.ok && !signal.aborted) {
        const stop = () => {
          stopping ??= p.stop();
          return stopping;
        };
        return { ok: true, readyMs: r.readyMs, server: { pid: r.pid, stop, exited: () => p.exit !== null, lastLines: () => p.lastLines() } };
      }
      // Timed out (still running), cancelled, or exited: make sure the whole tree is gone.
      stopping ??= p.stop();
      await stopping;
      if (r.ok) return { ok: false, message: 'cancelled while it started', lastLines: p.lastLines(), cancelled: true };
      return { ok: false, message: r.message, lastLines: r.lastLines, cancelled: signal.aborted || r.reason === 'stopped' };
    },
  };
}
