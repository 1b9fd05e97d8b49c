/**
 * The dry-run matrix's two sides timed per configuration: llama.cpp's no-allocation dry run (the
 * tool, a whole process: load the model's metadata, create the context, reserve the graphs) and the
 * estimate (read the GGUF header, size every part), each on one representative setting per
 * architecture of the matrix, median of repeated runs, one run at a time. Targets: the dry run
 * ≤ 1 s, the estimate ≤ 50 ms. Needs `npm run setup:llama`.
 */
import { estimateCase, shapePath } from '../test/helpers/llama-dry-run-matrix.ts';
import { llamaDryRun } from '../test/helpers/llama-dry-run.ts';
import { SHAPE_MODELS } from '../test/helpers/llama-shapes/architectures.ts';

export const DRY_RUN_TARGET_MS = 1000;
export const ESTIMATE_TARGET_MS = 50;

/** The configuration each architecture is timed with. */
const ARGS = ['-c', '8192', '-np', '2', '-fa', 'on', '-ctk', 'q8_0', '-ctv', 'q8_0'];

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface DryRunBenchRow {
  shape: string;
  args: string;
  runs: number;
  dryRunMedianMs: number;
  estimateMedianMs: number;
}

export interface DryRunBench {
  rows: DryRunBenchRow[];
  dryRunMedianMs: number;
  estimateMedianMs: number;
  targets: { dryRunMs: number; estimateMs: number };
}

export async function measureLlamaDryRun(runs = 5): Promise<DryRunBench> {
  const rows: DryRunBenchRow[] = [];
  for (const shape of SHAPE_MODELS) {
    const path = await shapePath(shape);
    const dry: number[] = [];
    const est: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const t0 = performance.now();
      await llamaDryRun(path, ARGS);
      const t1 = performance.now();
      await estimateCase(path, ARGS);
      const t2 = performance.now();
      // The first round warms the file cache and the JIT.
      if (i > 0) {
        dry.push(t1 - t0);
        est.push(t2 - t1);
      }
    }
    rows.push({ shape: shape.id, args: ARGS.join(' '), runs, dryRunMedianMs: median(dry), estimateMedianMs: median(est) });
  }
  return {
    rows,
    dryRunMedianMs: median(rows.map((r) => r.dryRunMedianMs)),
    estimateMedianMs: median(rows.map((r) => r.estimateMedianMs)),
    targets: { dryRunMs: DRY_RUN_TARGET_MS, estimateMs: ESTIMATE_TARGET_MS },
  };
}

/** The bench table's rows: one per architecture and side. */
export function dryRunRows(b: DryRunBench): { measure: string; value: string; target: string; ok: boolean }[] {
  return b.rows.flatMap((r) => [
    {
      measure: `llama.cpp dry run, ${r.shape}`,
      value: `${r.dryRunMedianMs.toFixed(0)} ms median of ${r.runs}`,
      target: `≤ ${DRY_RUN_TARGET_MS} ms`,
      ok: r.dryRunMedianMs <= DRY_RUN_TARGET_MS,
    },
    {
      measure: `estimate, ${r.shape}`,
      value: `${r.estimateMedianMs.toFixed(2)} ms median of ${r.runs}`,
      target: `≤ ${ESTIMATE_TARGET_MS} ms`,
      ok: r.estimateMedianMs <= ESTIMATE_TARGET_MS,
    },
  ]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const b = await measureLlamaDryRun();
  for (const r of dryRunRows(b)) console.log(`${r.measure.padEnd(40)} ${r.value.padEnd(28)} ${r.target}  ${r.ok ? 'met' : 'MISSED'}`);
}
