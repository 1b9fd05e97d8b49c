/**
 * Emulated model servers for tests: their command lines, free ports on 127.0.0.1, polling with a
 * deadline, and a register of every PID a test started so `after` can stop them, also on failure.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './fake-nvml.ts';

export type EmulatorKind = 'ollama' | 'llama-server' | 'vllm' | 'whisper-cpp' | 'faster-whisper';

/** `[node, path]` of an emulator: the command of a task that runs it. */
export function emulatorCommand(kind: EmulatorKind): string[] {
  return [process.execPath, join(repoRoot, 'test', 'fixtures', 'servers', `${kind}.ts`)];
}

/** A port that was free a moment ago (bound to 0, read, closed). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = address && typeof address === 'object' ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a truthy value, or throws after `timeoutMs` with `what`. */
export async function pollUntil<T>(check: () => T | Promise<T>, what: string, timeoutMs = 5000, intervalMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export { isAlive as alive } from '../../src/core/servers/process-tree.ts';

/** PIDs started by a test; `killAll` sends SIGKILL to each (and its group) that is still there. */
export class PidRegister {
  private readonly pids = new Set<number>();

  add(pid: number | null | undefined): void {
    if (pid) this.pids.add(pid);
  }

  killAll(): void {
    for (const pid of this.pids) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    this.pids.clear();
  }
}
