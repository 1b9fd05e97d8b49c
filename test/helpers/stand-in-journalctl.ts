/**
 * A stand-in `journalctl` in a private folder (test/fixtures/journal/journalctl.ts behind a shell
 * wrapper, given to the follower by path) that records its arguments and writes the plan's lines.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after } from 'node:test';
import { join } from 'node:path';
import { repoRoot } from './fake-nvml.ts';
import { recordedCalls } from './outside-servers.ts';

export interface JournalPlan {
  mode: 'field-note' | 'flood' | 'long' | 'fail';
  start?: number;
  seconds?: number;
  pid?: number;
  errorEvery?: number;
}

export interface StandInJournalctl {
  program: string;
  /** The argument lists it was called with, one per start. */
  calls(): Promise<string[][]>;
  dispose(): Promise<void>;
}

export async function standInJournalctl(plan: JournalPlan): Promise<StandInJournalctl> {
  const dir = await mkdtemp(join(tmpdir(), 'journalctl-'));
  const program = join(dir, 'journalctl');
  const log = join(dir, 'calls.log');
  const planPath = join(dir, 'plan.json');
  await writeFile(log, '');
  await writeFile(planPath, JSON.stringify({ ...plan, log }));
  const script = join(repoRoot, 'test', 'fixtures', 'journal', 'journalctl.ts');
  await writeFile(program, `#!/bin/sh\nexec '${process.execPath}' '${script}' '${planPath}' "$@"\n`);
  await chmod(program, 0o755);
  return {
    program,
    calls: () => recordedCalls(log),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Stand-ins for one test file: each one made is disposed of once the file's tests are done. */
export function journalctlStandIns(): (plan: JournalPlan) => Promise<StandInJournalctl> {
  const stands: StandInJournalctl[] = [];
  after(async () => {
    await Promise.all(stands.map((s) => s.dispose()));
  });
  return async (plan) => {
    const s = await standInJournalctl(plan);
    stands.push(s);
    return s;
  };
}
