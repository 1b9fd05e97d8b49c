/**
 * The estimate's truth set: cases from published llama.cpp load logs (test/fixtures/estimate-truth),
 * each a shape-only model built from the printed hyperparameters, the settings the log shows, and
 * the exact lines llama.cpp printed. `evaluateCase` runs the real reader and estimate on the
 * fixture and sets each part beside the printed figure. The printed numbers are the truth: they are
 * parsed from the quoted lines, never computed.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type LlamaGraphEra, llamaGraphEra } from '../../src/core/estimate/compute-buffer-size.ts';
import { readGgufModel } from '../../src/core/estimate/gguf-model.ts';
import { DEFAULT_LLAMA_SETTINGS, type LlamaSettings } from '../../src/core/estimate/llama-settings.ts';
import { readProjector } from '../../src/core/estimate/projector-model.ts';
import { projectorComputeBytes } from '../../src/core/estimate/projector-size.ts';
import { estimateVram, type EstimateOptions } from '../../src/core/estimate/vram-estimate.ts';
import { offloadsOutputLayerFirst } from '../../src/core/estimate/weights-placement.ts';
import { repoRoot } from './fake-nvml.ts';
import { writeGguf, type FixtureSpec } from './gguf-fixtures.ts';
import { transformerModel, typeCounts, visionProjector, type TransformerSpec, type VisionProjectorSpec } from './truth-models.ts';
import { MiB } from '../../src/core/units.ts';

export const TRUTH_DIR = join(repoRoot, 'test', 'fixtures', 'estimate-truth');

export type TruthPart = 'weights' | 'kv' | 'compute' | 'recurrent' | 'projector-weights' | 'projector-compute';

export interface TruthCase {
  id: string;
  title: string;
  covers: string[];
  source: { kind: 'issue' | 'file'; ref: string; date: string };
  command: string;
  printed: string[];
  parts: TruthPart[];
  partsNote?: string;
  knownMiss?: string;
  settings: Partial<LlamaSettings>;
  options: Pick<EstimateOptions, 'outputRows'>;
  model: ({ kind: 'transformer'; split?: number } & TransformerSpec) | ({ kind: 'projector' } & VisionProjectorSpec);
  typeCounts?: Record<string, number>;
  reconstruction: string;
}

export interface PartResult {
  part: TruthPart | 'total';
  printedBytes: number;
  predictedBytes: number;
  toleranceBytes: number;
  ok: boolean;
}

export interface CaseResult {
  truthCase: TruthCase;
  parts: PartResult[];
  /** The fixture's tensor type counts, for cases whose log prints them. */
  fixtureTypeCounts: Record<string, number> | null;
  assumptions: string[];
}

export async function loadTruthCases(): Promise<TruthCase[]> {
  const files = (await readdir(TRUTH_DIR)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(TRUTH_DIR, f), 'utf8')) as TruthCase));
}

const HOST_DEVICE = /^(CPU|CPU_Mapped|CPU_REPACK|.*_Host)$/;

function sumLines(lines: string[], pattern: RegExp, deviceGroup: number | null, valueGroup: number): number | null {
  let sum: number | null = null;
  for (const line of lines) {
    const m = pattern.exec(line);
    if (!m) continue;
    if (deviceGroup !== null && HOST_DEVICE.test(m[deviceGroup]!)) continue;
    sum = (sum ?? 0) + Number(m[valueGroup]);
  }
  return sum === null ? null : sum * MiB;
}

/** What llama.cpp printed for a part, in bytes (from MiB with two decimals). */
export function printedBytes(lines: string[], part: TruthPart): number | null {
  switch (part) {
    case 'weights':
      return sumLines(lines, /load_tensors:\s+(\S+) model buffer size =\s+([\d.]+) MiB/, 1, 2);
    case 'kv':
      return (
        sumLines(lines, /llama_kv_cache\w*: size =\s+([\d.]+) MiB/, null, 1) ??
        sumLines(lines, /KV self size\s+=\s+([\d.]+) MiB/, null, 1) ??
        sumLines(lines, /llama_kv_cache\w*:\s+(\S+) KV buffer size =\s+([\d.]+) MiB/, 1, 2)
      );
    case 'compute':
      return sumLines(lines, /(?:llama_context|sched_reserve|llama_new_context_with_model):\s+(\S+) compute buffer size =\s+([\d.]+) MiB/, 1, 2);
    case 'recurrent':
      return (
        sumLines(lines, /llama_memory_recurrent: size =\s+([\d.]+) MiB/, null, 1) ??
        sumLines(lines, /llama_memory_recurrent:\s+(\S+) RS buffer size =\s+([\d.]+) MiB/, 1, 2)
      );
    case 'projector-weights':
      return sumLines(lines, /load_hparams: model size:\s+([\d.]+) MiB/, null, 1);
    case 'projector-compute':
      return sumLines(lines, /alloc_compute_meta:\s+(\S+) compute buffer size =\s+([\d.]+) MiB/, 1, 2);
  }
}

/** The target: each part within max(5 %, 64 MiB) of the printed figure, the total within max(5 %, 128 MiB). */
export function toleranceBytes(part: TruthPart | 'total', printed: number): number {
  return Math.max(0.05 * printed, (part === 'total' ? 128 : 64) * MiB);
}

async function writeModel(c: TruthCase & { model: { kind: 'transformer' } }): Promise<{ path: string; spec: FixtureSpec }> {
  const spec = transformerModel(c.model);
  const shards = c.model.split ?? 1;
  if (shards <= 1) return { path: await writeGguf(`truth-${c.id}`, spec, { sparse: true }), spec };
  const per = Math.ceil(spec.tensors.length / shards);
  let first = '';
  for (let i = 0; i < shards; i++) {
    const split = {
      'split.no': { value: i, type: 2 },
      'split.count': { value: shards, type: 2 },
      'split.tensors.count': { value: spec.tensors.length, type: 5 },
    };
    const part: FixtureSpec = { metadata: i === 0 ? { ...spec.metadata, ...split } : split, tensors: spec.tensors.slice(i * per, (i + 1) * per) };
    const path = await writeGguf(`truth-${c.id}-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}`, part, { sparse: true });
    if (i === 0) first = path;
  }
  return { path: first, spec };
}

/** The build number or date a case's source gives for its llama.cpp. */
function buildOf(c: Pick<TruthCase, 'source' | 'command'>): { build: number | null; date: string } {
  const build = /\b(?:build|b)\s?(\d{4,5})\b/.exec(`${c.source.date} ${c.command}`);
  return { build: build ? Number(build[1]) : null, date: c.source.date };
}

/**
 * The graph the log's llama.cpp reserved, read from the build number or the date the source gives
 * (before June 2026: an f32 KQ mask beside the f16 one, and llama-server reserved every micro-batch
 * token's logits; see `llamaGraphEra`).
 */
export function graphEra(c: Pick<TruthCase, 'source' | 'command'>): LlamaGraphEra {
  return llamaGraphEra(buildOf(c));
}

export async function evaluateCase(c: TruthCase): Promise<CaseResult> {
  const settings: LlamaSettings = { ...DEFAULT_LLAMA_SETTINGS, ...c.settings };
  const predicted = new Map<TruthPart, number>();
  let fixtureTypeCounts: Record<string, number> | null = null;
  let assumptions: string[] = [];
  if (c.model.kind === 'projector') {
    const spec = visionProjector(c.model);
    const path = await writeGguf(`truth-${c.id}`, spec, { sparse: true });
    const projector = await readProjector(path);
    if (projector.kind !== 'projector') throw new Error(`${c.id}: ${projector.reason}`);
    predicted.set('projector-weights', projector.weightsBytes);
    predicted.set('projector-compute', projectorComputeBytes(projector, settings.flashAttention !== 'off'));
  } else {
    const { path, spec } = await writeModel(c as TruthCase & { model: { kind: 'transformer' } });
    if (c.typeCounts) fixtureTypeCounts = typeCounts(spec);
    const model = await readGgufModel(path);
    if (model.kind !== 'model') throw new Error(`${c.id}: ${model.reason}`);
    const graph = graphEra(c);
    const outputRows = c.options.outputRows ?? (graph === 'before-2026-06' ? 'ubatch' : undefined);
    const outputLayerFirst = offloadsOutputLayerFirst(buildOf(c));
    const e = estimateVram(model, settings, { ...c.options, graph, outputRows, outputLayerFirst });
    if (e.kind !== 'estimate') throw new Error(`${c.id}: ${e.reason}`);
    predicted.set('weights', e.parts.weightsBytes);
    predicted.set('kv', e.parts.kvCacheBytes);
    predicted.set('compute', e.parts.computeBufferBytes);
    predicted.set('recurrent', e.parts.recurrentStateBytes);
    assumptions = [
      `${e.assumptions.contextTokens} cells`,
      `${e.assumptions.parallel} slot(s)${e.assumptions.kvUnified ? ', unified' : ''}`,
      `flash attention ${e.assumptions.flashAttention}`,
      `K ${e.assumptions.cacheTypeK} / V ${e.assumptions.cacheTypeV}`,
      `ub ${e.assumptions.ubatchTokens}`,
      `${e.assumptions.gpuLayers}/${e.assumptions.totalLayers} layers`,
      graph === 'before-2026-06' ? "llama.cpp's graph before June 2026 (f32 KQ mask beside the f16 one)" : "llama.cpp v0.5.0's graph",
      ...(outputLayerFirst ? [] : ['-ngl without the output layer first (before December 2025)']),
      outputRows === 'ubatch'
        ? 'logits for every micro-batch token'
        : typeof outputRows === 'number'
          ? `logits for ${outputRows} rows`
          : 'logits for one row per slot',
    ];
  }
  const parts: PartResult[] = [];
  let printedTotal = 0;
  let predictedTotal = 0;
  for (const part of c.parts) {
    const printed = printedBytes(c.printed, part);
    if (printed === null) throw new Error(`${c.id}: the quoted lines print no figure for ${part}`);
    const p = predicted.get(part)!;
    const tol = toleranceBytes(part, printed);
    parts.push({ part, printedBytes: printed, predictedBytes: p, toleranceBytes: tol, ok: Math.abs(p - printed) <= tol });
    printedTotal += printed;
    predictedTotal += p;
  }
  if (c.parts.length > 1) {
    const tol = toleranceBytes('total', printedTotal);
    parts.push({
      part: 'total',
      printedBytes: printedTotal,
      predictedBytes: predictedTotal,
      toleranceBytes: tol,
      ok: Math.abs(predictedTotal - printedTotal) <= tol,
    });
  }
  return { truthCase: c, parts, fixtureTypeCounts, assumptions };
}
