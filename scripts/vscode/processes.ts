/**
 * Child processes that the tooling starts: each in its own process group, stopped by PID
 * (the group first, then any descendant that left it), with a deadline on every wait.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupAlive, isAlive, signalQuietly } from '../../src/core/servers/process-tree.ts';

export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

const running = new Set<Started>();

/** Starts `command` as the leader of a new process group, so it and its children can be stopped together. */
export function startGroup(name: string, command: string, args: string[], options: SpawnOptions = {}): Started {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const exited = new Promise<number | string>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit(code ?? signal ?? 'unknown'));
    child.once('error', (err) => resolveExit(`error: ${err.message}`));
  });
  const started: Started = { name, child, pid: child.pid, exited };
  running.add(started);
  void exited.then(() => running.delete(started));
  return started;
}

/** Every process below `root`, read from /proc (Linux); empty elsewhere. */
export function descendantsOf(root: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ...; comm may contain spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [root];
  // The loop also visits the children pushed onto the queue as it goes.
  for (const pid of queue) {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * Stops a started process: SIGTERM to its group and to every descendant (some leave the group),
 * then SIGKILL to whatever is still there after `graceMs`.
 */
export async function stopGroup(started: Started, graceMs = 5000): Promise<void> {
  const pids = new Set([started.pid, ...descendantsOf(started.pid)]);
  signalQuietly(-started.pid, 'SIGTERM');
  for (const pid of pids) signalQuietly(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(started.pid) && [...pids].every((pid) => !isAlive(pid))) break;
    await sleep(100);
  }
  signalQuietly(-started.pid, 'SIGKILL');
  for (const pid of pids) if (isAlive(pid)) signalQuietly(pid, 'SIGKILL');
  await raceDeadline(started.exited, 2000);
  running.delete(started);
}

/** Stops everything still running (for exit paths). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].reverse().map((s) => stopGroup(s, 3000)));
}

/** Synchronous last resort for `process.on('exit')`: SIGKILL to every group still known. */
export function killAllNow(): void {
  for (const s of running) {
    for (const pid of descendantsOf(s.pid)) signalQuietly(pid, 'SIGKILL');
    signalQuietly(-s.pid, 'SIGKILL');
  }
}

/**
 * Makes Ctrl-C, SIGTERM and crashes stop every started process before exiting.
 * `cleanup` runs first (close the browser, remove temp folders), with a deadline.
 */
export function stopEverythingOnExit(cleanup: () => Promise<void> = async () => {}): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping...\n`);
    const done = raceDeadline(
      cleanup()
        .catch(() => {})
        .then(stopAll),
      10_000,
    );
    void done.finally(() => {
      killAllNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  process.once('exit', killAllNow);
}

/** Resolves with `promise`'s value, or 'timeout' after `ms`; the timer never outlives the race. */
export async function raceDeadline<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  const abort = new AbortController();
  const timer = sleep(ms, 'timeout' as const, { signal: abort.signal }).catch(() => 'timeout' as const);
  try {
    return await Promise.race([promise, timer]);
  } finally {
    abort.abort();
  }
}

/** Runs a command to completion, returning its exit code; output is passed to `onOutput`. */
export async function runToEnd(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions & { timeoutMs: number; onOutput?: (chunk: string) => void },
): Promise<number | string> {
  const { timeoutMs, onOutput, ...spawnOptions } = options;
  const started = startGroup(name, command, args, spawnOptions);
  started.child.stdout?.on('data', (b: Buffer) => onOutput?.(b.toString()));
  started.child.stderr?.on('data', (b: Buffer) => onOutput?.(b.toString()));
  const result = await raceDeadline(started.exited, timeoutMs);
  if (result === 'timeout') {
    await stopGroup(started);
    throw new Error(`${name} did not finish within ${Math.round(timeoutMs / 1000)} s`);
  }
  return result;
}

/** Polls `url` until it answers with a status below 500, or throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs: number, stillRunning?: Started): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (stillRunning && !running.has(stillRunning)) {
      throw new Error(`${stillRunning.name} exited (${String(await stillRunning.exited)}) before ${url} answered`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status < 500) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer within ${Math.round(timeoutMs / 1000)} s (${last})`);
}
