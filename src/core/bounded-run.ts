/**
 * Runs a program once, bounded: an argument array (never a shell string), a process group of its
 * own, a time limit, a cap on its output, and an abort signal. When it overruns the limit or the
 * cap, or the caller aborts, the whole group is killed (SIGKILL), so children that keep its pipes
 * open go too. Never rejects: every ending is a result the caller turns into a sentence.
 *
 * A killed run says whether the program itself had exited before the kill (then a child of it held
 * the pipes) and whether the pipes closed after the kill: a process stuck in a driver ignores even
 * SIGKILL, and one that left the group may keep them open; after `reapGraceMs` it is given up on.
 */
import { spawn } from 'node:child_process';

export interface BoundedRunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  /** stdout and stderr together; past it the group is killed. */
  maxOutputBytes: number;
  signal?: AbortSignal;
  /** After the kill, how long to wait for the pipes to close before giving up on them (default 2 s). */
  reapGraceMs?: number;
}

export type BoundedRunResult =
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }
  /** Killed with its group: it ran past the limit, printed past the cap, or the caller aborted. */
  | {
      kind: 'timeout' | 'flood' | 'aborted';
      stdout: string;
      stderr: string;
      /** The program's process (its group's id). */
      pid: number | undefined;
      /** How the program itself ended, when it had: before the kill (a child of it held the pipes), or by it. */
      exit: { code: number | null; signal: NodeJS.Signals | null } | null;
      /** Its pipes closed after the kill; false when they were given up on after `reapGraceMs`. */
      closed: boolean;
    }
  /** It could not be started (ENOENT, EACCES …). */
  | { kind: 'not-started'; code: string | null; message: string };

export function runBounded(program: string, args: readonly string[], o: BoundedRunOptions): Promise<BoundedRunResult> {
  const group = process.platform !== 'win32';
  return new Promise((resolve) => {
    if (o.signal?.aborted) return resolve({ kind: 'aborted', stdout: '', stderr: '', pid: undefined, exit: null, closed: true });
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(program, [...args], { env: o.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: group, windowsHide: true });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return resolve({ kind: 'not-started', code: e.code ?? null, message: e.message });
    }
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let bytes = 0;
    let killedFor: 'timeout' | 'flood' | 'aborted' | null = null;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;
    let reapTimer: NodeJS.Timeout | undefined;
    const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');
    const killGroup = () => {
      try {
        if (group && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    };
    const finish = (result: BoundedRunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(reapTimer);
      o.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.unref();
      resolve(result);
    };
    const killed = (why: 'timeout' | 'flood' | 'aborted', closed: boolean): BoundedRunResult => ({
      kind: why,
      stdout: text(out),
      stderr: text(errOut),
      pid: child.pid,
      exit,
      closed,
    });
    const overrun = (why: 'timeout' | 'flood' | 'aborted') => {
      if (killedFor || settled) return;
      killedFor = why;
      killGroup();
      reapTimer = setTimeout(() => finish(killed(why, false)), o.reapGraceMs ?? 2000);
    };
    const onAbort = () => overrun('aborted');
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => overrun('timeout'), o.timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      if (killedFor) return;
      const room = o.maxOutputBytes - bytes;
      bytes += chunk.length;
      into.push(room >= chunk.length ? chunk : chunk.subarray(0, Math.max(0, room)));
      if (bytes > o.maxOutputBytes) overrun('flood');
    };
    child.stdout?.on('data', collect(out));
    child.stderr?.on('data', collect(errOut));
    child.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'not-started', code: err.code ?? null, message: err.message }));
    child.on('exit', (code, signal) => {
      exit = { code, signal };
    });
    child.on('close', (code, signal) => {
      exit ??= { code, signal };
      if (killedFor) return finish(killed(killedFor, true));
      finish({ kind: 'exited', code, signal, stdout: text(out), stderr: text(errOut) });
    });
  });
}
