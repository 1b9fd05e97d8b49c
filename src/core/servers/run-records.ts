/**
 * What each `vram-guard run` is running, for `vram-guard ledger`: one small file per run beside the
 * reservations ($XDG_RUNTIME_DIR/vram-guard/runs/<run's PID>.json) — the command, its PID now, when
 * it started, how many times it was restarted and how it last ended. Written whole (temporary file,
 * then rename) at each start and end, removed when run ends; a file whose run is gone is ignored.
 */
import { mkdir, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isAlive } from './process-tree.ts';
import { readBounded } from './recognition/proc-facts.ts';

export interface RunExit {
  code: number | null;
  signal: string | null;
  /** ms since the epoch. */
  at: number;
}

export interface RunRecord {
  /** The program as given ("llama-server"). */
  name: string;
  gpu: number;
  runPid: number;
  /** The command's PID now; null between a failure and its restart. */
  childPid: number | null;
  /** When the command now running started (ms since the epoch). */
  startedAt: number | null;
  restarts: number;
  lastExit: RunExit | null;
}

const MAX_FILES = 64;
const MAX_BYTES = 16 * 1024;

export function runsDir(reservationsFile: string): string {
  return join(dirname(reservationsFile), 'runs');
}

const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

function valid(x: unknown): x is RunRecord {
  const r = x as Record<string, unknown>;
  const e = r?.lastExit as Record<string, unknown> | null | undefined;
  return (
    !!r &&
    typeof r.name === 'string' &&
    r.name.length <= 256 &&
    int(r.gpu) &&
    int(r.runPid) &&
    (r.childPid === null || int(r.childPid)) &&
    (r.startedAt === null || int(r.startedAt)) &&
    int(r.restarts) &&
    (e === null || (!!e && (e.code === null || Number.isSafeInteger(e.code)) && (e.signal === null || typeof e.signal === 'string') && int(e.at)))
  );
}

export async function writeRunRecord(dir: string, record: RunRecord): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${record.runPid}.json`);
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
  await rename(tmp, path);
}

export async function removeRunRecord(dir: string, runPid: number): Promise<void> {
  await unlink(join(dir, `${runPid}.json`)).catch(() => {});
}

/** The records of runs still alive; unreadable or foreign files are skipped. */
export async function readRunRecords(dir: string, alive: (pid: number) => boolean = isAlive): Promise<RunRecord[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d+\.json$/.test(n)).slice(0, MAX_FILES);
  const out: RunRecord[] = [];
  await Promise.all(
    names.map(async (n) => {
      try {
        const r = JSON.parse(await readBounded(join(dir, n), MAX_BYTES)) as unknown;
        if (valid(r) && `${r.runPid}.json` === n && alive(r.runPid)) out.push(r);
      } catch {
        // half-written or not ours
      }
    }),
  );
  return out.sort((a, b) => a.runPid - b.runPid);
}
