/**
 * llama.cpp's own load report, as kept beside NVML's measurement of a server (measured-footprints.ts):
 * the parts on the GPU it printed (weights, KV cache, recurrent state, compute and output buffers)
 * and every buffer line, bounded and validated when read back. The next estimate for the same model
 * file and settings takes these parts instead of the formula's (the CUDA context, a projector and a
 * draft model stay estimated: llama.cpp prints no line that sizes them), and says so.
 * llama-server prints its memory breakdown table only as it stops, after the entry was written at
 * ready: the table's rows (per device and the host: self = model + context + compute) are added to
 * the entry then.
 */
import { formatMiB, MiB } from '../units.ts';
import type { VramEstimate } from './estimate-types.ts';
import {
  BUFFER_NAME,
  type BreakdownRow,
  deviceParts,
  type LoadReport,
  MAX_BUFFERS,
  MAX_MIB,
  MAX_ROWS,
  type PrintedBuffer,
  type PrintedPart,
} from './load-report.ts';

/** One row of llama.cpp's memory breakdown table, in bytes (the whole MiB it printed). */
export interface PrintedBreakdownRow {
  kind: BreakdownRow['kind'];
  /** "CUDA0 (NVIDIA GeForce RTX 4090)", "Host", "CPU_REPACK". */
  name: string;
  /** What this server took there: model + context + compute. */
  selfBytes: number;
  modelBytes: number;
  /** KV cache, recurrent state and output buffers. */
  contextBytes: number;
  computeBytes: number;
}

/** The table llama-server printed as it stopped. */
export interface PrintedBreakdown {
  /** ISO time it was read. */
  printedAt: string;
  rows: PrintedBreakdownRow[];
}

export interface PrintedFootprint {
  /** On devices (not host memory), in bytes, as llama.cpp printed them. */
  weightsBytes: number;
  kvCacheBytes: number;
  recurrentStateBytes: number;
  computeBufferBytes: number;
  outputBytes: number;
  /** Every buffer line of the load, host buffers included. */
  buffers: PrintedBuffer[];
  /** ISO time the report was read. */
  printedAt: string;
  /** The memory breakdown table printed as the server stopped; absent until a server with these parts stopped and printed one. */
  breakdown?: PrintedBreakdown;
}

const PART_KINDS: readonly PrintedPart[] = ['model', 'kv', 'rs', 'compute', 'output'];
const MAX_BYTES = MAX_MIB * MiB;

/** The report as kept; null until the real load's compute buffers have been printed. */
export function printedFootprint(report: LoadReport, at: Date): PrintedFootprint | null {
  if (!report.complete || !report.buffers.length) return null;
  const p = deviceParts(report);
  return {
    weightsBytes: p.model,
    kvCacheBytes: p.kv,
    recurrentStateBytes: p.rs,
    computeBufferBytes: p.compute,
    outputBytes: p.output,
    buffers: report.buffers.slice(0, MAX_BUFFERS),
    printedAt: at.toISOString(),
  };
}

const bytes = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) < MAX_BYTES;

/** The longest row name kept (the parser takes no longer one). */
const MAX_ROW_NAME = 256;

/** The breakdown table the report holds, as kept; null when none was printed after the real load. */
export function printedBreakdown(report: LoadReport, at: Date): PrintedBreakdown | null {
  if (!report.complete || !report.breakdown.length) return null;
  return {
    printedAt: at.toISOString(),
    rows: report.breakdown.slice(0, MAX_ROWS).map((r) => ({
      kind: r.kind,
      name: r.name,
      selfBytes: r.selfMiB * MiB,
      modelBytes: r.modelMiB * MiB,
      contextBytes: r.contextMiB * MiB,
      computeBytes: r.computeMiB * MiB,
    })),
  };
}

function validBreakdown(x: unknown): x is PrintedBreakdown {
  if (!x || typeof x !== 'object') return false;
  const b = x as Record<string, unknown>;
  return (
    typeof b.printedAt === 'string' &&
    !Number.isNaN(Date.parse(b.printedAt)) &&
    Array.isArray(b.rows) &&
    b.rows.length > 0 &&
    b.rows.length <= MAX_ROWS &&
    b.rows.every((r) => {
      const o = r as Record<string, unknown> | null;
      return (
        !!o &&
        typeof o === 'object' &&
        (o.kind === 'device' || o.kind === 'host' || o.kind === 'buffer_type') &&
        typeof o.name === 'string' &&
        o.name.length > 0 &&
        o.name.length <= MAX_ROW_NAME &&
        ['selfBytes', 'modelBytes', 'contextBytes', 'computeBytes'].every((k) => bytes(o[k]))
      );
    })
  );
}

/** A stored report as written by printedFootprint; anything else is not one. */
export function validPrintedFootprint(x: unknown): x is PrintedFootprint {
  if (!x || typeof x !== 'object') return false;
  const p = x as Record<string, unknown>;
  return (
    ['weightsBytes', 'kvCacheBytes', 'recurrentStateBytes', 'computeBufferBytes', 'outputBytes'].every((k) => bytes(p[k])) &&
    typeof p.printedAt === 'string' &&
    !Number.isNaN(Date.parse(p.printedAt)) &&
    (p.breakdown === undefined || validBreakdown(p.breakdown)) &&
    Array.isArray(p.buffers) &&
    p.buffers.length <= MAX_BUFFERS &&
    p.buffers.every((b) => {
      const o = b as Record<string, unknown> | null;
      return (
        !!o &&
        typeof o === 'object' &&
        (PART_KINDS as readonly unknown[]).includes(o.part) &&
        typeof o.buffer === 'string' &&
        BUFFER_NAME.test(o.buffer) &&
        bytes(o.bytes)
      );
    })
  );
}

/** "2026-12-07 09:12" */
export function printedDate(p: PrintedFootprint): string {
  return p.printedAt.slice(0, 16).replace('T', ' ');
}

/**
 * The estimate with the parts llama.cpp printed for the same file and settings in place of the
 * formula's; the output buffer, which the formula leaves out, is added to the compute buffer.
 */
export function withPrintedParts(estimate: VramEstimate, printed: PrintedFootprint): VramEstimate {
  const parts = {
    ...estimate.parts,
    weightsBytes: printed.weightsBytes,
    kvCacheBytes: printed.kvCacheBytes,
    recurrentStateBytes: printed.recurrentStateBytes,
    computeBufferBytes: printed.computeBufferBytes + printed.outputBytes,
  };
  const totalBytes = Object.values(parts).reduce((a, b) => a + b, 0);
  return {
    ...estimate,
    parts,
    totalBytes,
    assumptions: {
      ...estimate.assumptions,
      notes: [
        ...estimate.assumptions.notes,
        `weights, KV cache, recurrent state and compute buffers from llama.cpp's own report of ${printedDate(printed)} (same file and settings; the formula gave ${formatMiB(estimate.totalBytes)} in all)`,
      ],
    },
  };
}

/** "weights 2376 MiB + KV cache 1152 MiB + compute buffer 85 MiB + output buffer 0 MiB on the GPU (printed 2026-12-07 09:12)" */
export function printedText(p: PrintedFootprint): string {
  const parts = [
    `weights ${formatMiB(p.weightsBytes)}`,
    `KV cache ${formatMiB(p.kvCacheBytes)}`,
    ...(p.recurrentStateBytes ? [`recurrent state ${formatMiB(p.recurrentStateBytes)}`] : []),
    `compute buffer ${formatMiB(p.computeBufferBytes)}`,
    ...(p.outputBytes ? [`output buffer ${formatMiB(p.outputBytes)}`] : []),
  ];
  return `${parts.join(' + ')} on the GPU (printed ${printedDate(p)})`;
}

/** One row per part on the GPU: the formula's estimate and what llama.cpp printed, either of them null when there is none. */
export function partRows(
  estimate: VramEstimate | null,
  printed: PrintedFootprint | null,
): { part: string; estimateBytes: number | null; printedBytes: number | null }[] {
  const e = estimate?.parts ?? null;
  const rows = [
    { part: 'weights', estimateBytes: e?.weightsBytes ?? null, printedBytes: printed?.weightsBytes ?? null },
    { part: 'KV cache', estimateBytes: e?.kvCacheBytes ?? null, printedBytes: printed?.kvCacheBytes ?? null },
    { part: 'recurrent state', estimateBytes: e?.recurrentStateBytes ?? null, printedBytes: printed?.recurrentStateBytes ?? null },
    { part: 'compute buffer', estimateBytes: e?.computeBufferBytes ?? null, printedBytes: printed?.computeBufferBytes ?? null },
    { part: 'output buffer', estimateBytes: e ? 0 : null, printedBytes: printed?.outputBytes ?? null },
    { part: 'projector', estimateBytes: e?.projectorBytes ?? null, printedBytes: null },
    { part: 'draft model', estimateBytes: e?.draftBytes ?? null, printedBytes: null },
    { part: 'CUDA context', estimateBytes: e?.runtimeBytes ?? null, printedBytes: null },
  ];
  return rows.filter((r) => r.part === 'weights' || r.part === 'KV cache' || (r.estimateBytes ?? 0) > 0 || (r.printedBytes ?? 0) > 0);
}

/** "CPU_REPACK 20 MiB (model 20 + context 0 + compute 0); Host 9 MiB (model 0 + context 1 + compute 8)" */
export function breakdownText(b: PrintedBreakdown): string {
  const m = (x: number) => Math.round(x / MiB);
  return b.rows
    .map((r) => `${r.name} ${formatMiB(r.selfBytes)} (model ${m(r.modelBytes)} + context ${m(r.contextBytes)} + compute ${m(r.computeBytes)})`)
    .join('; ');
}

/** The printed parts' sum. */
export function printedTotal(p: PrintedFootprint): number {
  return p.weightsBytes + p.kvCacheBytes + p.recurrentStateBytes + p.computeBufferBytes + p.outputBytes;
}
