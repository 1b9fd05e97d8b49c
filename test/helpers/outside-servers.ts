/**
 * What the tests of fallback steps on servers VRAM Guard did not start share: a stand-in `systemctl`
 * (a shell script that records its arguments, one a line, and exits 0), recognised processes as the
 * recogniser gives them, and the executor over an empty registry of task servers.
 */
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutsideServerExecutor, type OutsideExecutorOptions } from '../../src/core/fallback/outside-executor.ts';
import { ServerExecutor } from '../../src/core/fallback/server-executor.ts';
import type { ProcessRecognition } from '../../src/core/servers/recognition/recogniser.ts';
import { ServerRegistry } from '../../src/core/servers/server-registry.ts';
import { PROCESS_KINDS } from '../../src/core/servers/recognition/kinds.ts';

export interface StandInSystemctl {
  program: string;
  /** The argument lists it was called with. */
  calls(): Promise<string[][]>;
}

/** The calls a stand-in program logged: its arguments one a line, each call ending with "--end--". */
export async function recordedCalls(log: string): Promise<string[][]> {
  const out: string[][] = [];
  let call: string[] = [];
  for (const line of (await readFile(log, 'utf8')).split('\n').slice(0, -1)) {
    if (line === '--end--') {
      out.push(call);
      call = [];
    } else call.push(line);
  }
  return out;
}

/** A `systemctl` in a private folder that appends its arguments to a log, each call ending with "--end--". */
export async function standInSystemctl(): Promise<StandInSystemctl> {
  const dir = await mkdtemp(join(tmpdir(), 'outside-systemctl-'));
  const program = join(dir, 'systemctl');
  const log = join(dir, 'calls.log');
  await writeFile(log, '');
  await writeFile(program, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a" >> '${log}'; done\nprintf -- '--end--\\n' >> '${log}'\n`);
  await chmod(program, 0o755);
  return {
    program,
    calls: () => recordedCalls(log),
  };
}

/** A recognised process, as the recogniser reports one VRAM Guard did not start. */
export function recognised(over: Partial<ProcessRecognition> & Pick<ProcessRecognition, 'pid' | 'kind'>): ProcessRecognition {
  return {
    label: over.kind,
    serverKind: PROCESS_KINDS.find((k) => k.id === over.kind)?.serverKind ?? null,
    role: null,
    program: over.kind,
    model: null,
    ports: [],
    unit: null,
    uid: process.getuid?.() ?? null,
    startedAt: null,
    startedBy: 'outside',
    missing: [],
    ...over,
  };
}

/** The executor of a window with no task servers, acting on `processes` in a trusted workspace. */
export function outsideExecutor(processes: ProcessRecognition[], over: Partial<OutsideExecutorOptions> = {}): OutsideServerExecutor {
  return new OutsideServerExecutor({
    managed: new ServerExecutor({ registry: new ServerRegistry(), isTrusted: () => true }),
    processes: async () => processes,
    isTrusted: () => true,
    probeTimeoutMs: 2000,
    ...over,
  });
}
