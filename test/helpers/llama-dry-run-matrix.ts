/**
 * The dry-run matrix: each generated architecture (llama-shapes/architectures.ts) under many
 * llama-server settings, sized by the real llama.cpp (its no-allocation dry run on lavapipe, a
 * GPU-like Vulkan device) and by the estimate, part by part. The settings are llama-server's own
 * arguments: llama.cpp parses them with its parser, the estimate with `parseLlamaServerArgs`.
 *
 * Held parts, within max(1 %, 16 MiB) of llama.cpp: the weights on the device and on the host, the
 * KV cache and the recurrent state on the device, and the number of layers on the device. The
 * compute buffer is backend-specific (the estimate models CUDA's, the dry run sizes Vulkan's): it is
 * set beside llama.cpp's and held only to the looser COMPUTE_BOUND.
 */
import { readGgufModel } from '../../src/core/estimate/gguf-model.ts';
import { mtpKvCacheBytes } from '../../src/core/estimate/kv-cache-size.ts';
import { readProjector } from '../../src/core/estimate/projector-model.ts';
import { projectorComputeBytes } from '../../src/core/estimate/projector-size.ts';
import { parseLlamaServerArgs } from '../../src/core/estimate/server-args.ts';
import { estimateVram } from '../../src/core/estimate/vram-estimate.ts';
import { placeWeights } from '../../src/core/estimate/weights-placement.ts';
import { MiB } from '../../src/core/units.ts';
import { writeGguf } from './gguf-fixtures.ts';
import { deviceTotals, hostTotals, llamaDryRun, type DryRunReport } from './llama-dry-run.ts';
import { PROJECTOR_SHAPES, SHAPE_MODELS, type ProjectorShape, type ShapeModel } from './llama-shapes/architectures.ts';

export type MatrixPart =
  | 'weights (device)'
  | 'weights (host)'
  | 'KV (device)'
  | 'recurrent (device)'
  | 'layers on device'
  | 'output layer on device'
  | 'compute (device)'
  | 'MTP draft KV (device)'
  | 'MTP draft compute (device)'
  | 'weights (device 0)'
  | 'weights (device 1)'
  | 'KV (device 0)'
  | 'KV (device 1)'
  | 'layers on device 0'
  | 'layers on device 1'
  | 'compute (device 0)'
  | 'compute (device 1)'
  | 'projector weights (device)'
  | 'projector compute (device)';

/** The parts held to the tight bound. */
export const HELD_PARTS: readonly MatrixPart[] = [
  'weights (device)',
  'weights (host)',
  'KV (device)',
  'recurrent (device)',
  'layers on device',
  'output layer on device',
  'projector weights (device)',
  'MTP draft KV (device)',
  'weights (device 0)',
  'weights (device 1)',
  'KV (device 0)',
  'KV (device 1)',
  'layers on device 0',
  'layers on device 1',
];

/** The backend-specific parts, held only to COMPUTE_BOUND. */
const COMPUTE_PARTS: readonly MatrixPart[] = [
  'compute (device)',
  'projector compute (device)',
  'MTP draft compute (device)',
  'compute (device 0)',
  'compute (device 1)',
];

/** Parts that are counts, not bytes (held exactly). */
export const COUNT_PARTS: readonly MatrixPart[] = ['layers on device', 'output layer on device', 'layers on device 0', 'layers on device 1'];

/** max(1 %, 16 MiB) of llama.cpp's figure (counts: exact). */
export function matrixTolerance(part: MatrixPart, truth: number): number {
  if (COUNT_PARTS.includes(part)) return 0;
  return Math.max(0.01 * truth, 16 * MiB);
}

/**
 * The compute buffer's bound: the estimate's (CUDA's) compute buffer within this factor of the
 * Vulkan dry run's, either way, where the two can be compared — flash attention resolved the same
 * way (the backends' kernels cover different head sizes and cache types), `-ngl 0` included (the
 * large matrix products of layers in host memory run on the device). Loose on purpose: the backends reserve differently
 * (see docs/llama-dry-run-matrix.md); it catches an estimate that is off by an order of magnitude.
 */
export const COMPUTE_BOUND = 5;

export interface MatrixCase {
  readonly shape: ShapeModel;
  /** llama-server's arguments after `-m` (and `--mmproj FILE` when there is a projector). */
  readonly args: readonly string[];
  readonly projector?: ProjectorShape;
  /** Devices the dry run sees (lavapipe opened that many times): 2 for the `-ts` cases. */
  readonly devices?: number;
}

/** Shapes sized over two devices with `-ts` (whole layers per device, `-sm layer`). */
const TWO_DEVICE_SHAPES = ['llama', 'gemma3', 'qwen3moe', 'deepseek2', 'granitehybrid'];
const TWO_DEVICE_SETTINGS = [
  ['-c', '4096', '-np', '1', '-ts', '1,1'],
  ['-c', '8192', '-np', '1', '-ts', '3,1'],
  ['-c', '8192', '-np', '2', '-ts', '1,3', '-fa', 'on'],
  ['-c', '4096', '-np', '1', '-ts', '1,1', '-ngl', '5'],
];

/** The settings every architecture runs under. */
function commonSettings(shape: ShapeModel): string[][] {
  const half = String(Math.floor(shape.layers / 2));
  const out = [
    ['-c', '4096', '-np', '1', '-fa', 'on'],
    ['-c', '8192'],
    ['-c', '16384', '-np', '4'],
    ['-c', '8192', '-np', '2', '-kvu'],
    ['-c', '4096', '-np', '1', '-fa', 'off'],
    ['-c', '8192', '-np', '1', '-fa', 'on', '-ctk', 'q8_0', '-ctv', 'q8_0'],
    ['-c', '8192', '-np', '1', '-fa', 'on', '-ctk', 'q4_0', '-ctv', 'q4_0'],
    ['-c', '4096', '-np', '1', '-ctk', 'f32', '-ctv', 'f32'],
    ['-c', '4096', '-np', '1', '-ngl', '0'],
    ['-c', '4096', '-np', '1', '-ngl', '0', '--no-op-offload'],
    ['-c', '4096', '-np', '1', '-ngl', half],
    ['-c', '4096', '-np', '1', '-ub', '128'],
    ['-c', '8192', '-np', '1', '-ub', '1024', '-b', '1024'],
    ['-c', '0', '-np', '1'],
    ['-c', '4096', '-np', '8', '-fa', 'on'],
  ];
  // Multi-head latent attention needs the same K and V types.
  if (!shape.traits.mla) out.push(['-c', '8192', '-np', '1', '-fa', 'auto', '-ctk', 'q8_0']);
  else out.push(['-c', '8192', '-np', '1', '-fa', 'off', '-ctk', 'bf16', '-ctv', 'bf16']);
  return out;
}

export function matrixCases(): MatrixCase[] {
  const cases: MatrixCase[] = [];
  for (const shape of SHAPE_MODELS) {
    const settings = commonSettings(shape);
    if (shape.traits.experts) {
      settings.push(['-c', '4096', '-np', '1', '--n-cpu-moe', '2']);
      settings.push(['-c', '4096', '-np', '1', '-ot', String.raw`blk\.[0-3]\.ffn_(up|down|gate)_exps=CPU`]);
      settings.push(['-c', '4096', '-np', '1', '-cmoe']);
    }
    if (shape.traits.mtp) {
      // The NextN layers loaded, and the draft context llama-server creates for them.
      const mtp = ['--spec-type', 'draft-mtp'];
      settings.push(['-c', '4096', '-np', '1', '-fa', 'on', ...mtp]);
      settings.push(['-c', '8192', '-np', '2', ...mtp]);
      settings.push(['-c', '16384', '-np', '4', '-kvu', ...mtp]);
      settings.push(['-c', '4096', '-np', '1', '-ngl', '1', ...mtp]);
      settings.push(['-c', '4096', '-np', '1', '-ngl', '2', ...mtp]);
      settings.push(['-c', '8192', '-np', '1', '-fa', 'on', '-ctk', 'q8_0', '-ctv', 'q8_0', ...mtp]);
      settings.push(['-c', '8192', '-np', '1', '-fa', 'on', '-ctk', 'q8_0', '-ctv', 'q8_0', ...mtp, '-ctkd', 'q4_0', '-ctvd', 'q4_0']);
    }
    if (shape.traits.swa) {
      settings.push(['-c', '16384', '-np', '1', '--swa-full']);
      settings.push(['-c', '16384', '-np', '4', '-kvu', '-ub', '256']);
    }
    for (const args of settings) cases.push({ shape, args });
  }
  for (const id of TWO_DEVICE_SHAPES) {
    const shape = SHAPE_MODELS.find((s) => s.id === id);
    if (!shape) throw new Error(`no shape ${id}`);
    for (const args of TWO_DEVICE_SETTINGS) cases.push({ shape, args, devices: 2 });
  }
  for (const projector of PROJECTOR_SHAPES) {
    const shape = SHAPE_MODELS.find((s) => s.id === projector.textModel);
    if (!shape) throw new Error(`${projector.id}: no text model ${projector.textModel}`);
    for (const args of [
      ['-c', '4096', '-np', '1', '-fa', 'on'],
      ['-c', '4096', '-np', '1', '-fa', 'off'],
      // (--no-mmproj-offload is left out: llama.cpp's no-allocation projector load on the CPU alone
      // stops on an assertion in the scheduler, ggml-backend.cpp "*cur_backend_id != -1".)
      ['-c', '8192', '-np', '2', '-fa', 'auto'],
    ])
      cases.push({ shape, args, projector });
  }
  return cases;
}

export interface PartComparison {
  readonly part: MatrixPart;
  readonly llama: number;
  readonly ours: number;
  readonly tolerance: number;
  readonly ok: boolean;
  /** Why a part is shown but not held (compute only). */
  readonly notHeld?: string;
}

export interface CaseComparison {
  readonly c: MatrixCase;
  readonly parts: readonly PartComparison[];
  readonly report: DryRunReport;
  /** Wall time of llama.cpp's dry run and of the estimate (read + size), ms. */
  readonly dryRunMs: number;
  readonly estimateMs: number;
}

const paths = new Map<string, Promise<string>>();

/** The shape's GGUF, written once per process. */
export function shapePath(shape: ShapeModel | ProjectorShape): Promise<string> {
  let p = paths.get(shape.id);
  if (!p) {
    p = writeGguf(`dry-run-${shape.id}`, shape.spec(), { sparse: true });
    paths.set(shape.id, p);
  }
  return p;
}

/** The case's arguments as llama-server gets them. */
async function fullArgs(c: MatrixCase): Promise<string[]> {
  return c.projector ? [...c.args, '--mmproj', await shapePath(c.projector)] : [...c.args];
}

/** The estimate's figures for one case (the projector, when the arguments give one, read as `--mmproj` names it). */
export async function estimateCase(path: string, args: readonly string[]) {
  const parsed = parseLlamaServerArgs(args);
  if (!parsed.ok) throw new Error(parsed.error);
  const model = await readGgufModel(path);
  if (model.kind !== 'model') throw new Error(model.reason);
  let projector = null;
  if (parsed.settings.projectorPath) {
    const p = await readProjector(parsed.settings.projectorPath);
    if (p.kind !== 'projector') throw new Error(p.reason);
    projector = p;
  }
  const e = estimateVram(model, parsed.settings, projector ? { projector } : {});
  if (e.kind !== 'estimate') throw new Error(e.reason);
  const placement = placeWeights(model, parsed.settings);
  const mtp = parsed.settings.mtp;
  const draftKv = mtp
    ? mtpKvCacheBytes(model, {
        cells: e.assumptions.contextTokens,
        swaCells: e.assumptions.contextTokens,
        cacheTypeK: mtp.cacheTypeK ?? 'f16',
        cacheTypeV: mtp.cacheTypeV ?? 'f16',
        firstGpuLayer: model.layers - e.assumptions.gpuLayers,
        sequences: e.assumptions.parallel,
      })
    : 0;
  const offload = projector !== null && parsed.settings.projectorOffload;
  const projectorParts = {
    weights: offload ? projector!.weightsBytes : 0,
    compute: offload ? projectorComputeBytes(projector!, e.assumptions.flashAttention === 'on') : 0,
  };
  return { estimate: e, placement, projector: projectorParts, draft: { kv: draftKv, compute: e.parts.draftBytes - draftKv } };
}

export async function compareCase(c: MatrixCase): Promise<CaseComparison> {
  const path = await shapePath(c.shape);
  const args = await fullArgs(c);
  const t0 = performance.now();
  const report = await llamaDryRun(path, args, c.devices ?? 1);
  const dryRunMs = performance.now() - t0;
  const t1 = performance.now();
  const { estimate, placement, projector, draft } = await estimateCase(path, args);
  const estimateMs = performance.now() - t1;
  const device = deviceTotals(report);
  const host = hostTotals(report);
  const deviceLayer = (l: { device: string }) => !/^(CPU|.*_Host)$/.test(l.device);
  // The output layer is the last one listed (after any NextN layers, which settings.layers leaves out).
  const n = report.layers.reduce((m, l) => Math.max(m, l.layer), report.settings.layers);
  const onDevice = report.layers.filter((l) => l.layer < n && deviceLayer(l)).length;
  const output = report.layers.find((l) => l.layer === n);
  const layersKnown = report.layers.length > 0;
  const figures: [MatrixPart, number, number][] = [
    ['weights (device)', device.weights, estimate.parts.weightsBytes],
    ['weights (host)', host.weights, placement.cpuBytes],
    ['KV (device)', device.kv, estimate.parts.kvCacheBytes],
    ['recurrent (device)', device.recurrent, estimate.parts.recurrentStateBytes],
    ...(layersKnown ? [['layers on device', onDevice, estimate.assumptions.gpuLayers] as [MatrixPart, number, number]] : []),
    ...(output ? [['output layer on device', deviceLayer(output) ? 1 : 0, placement.outputOnGpu ? 1 : 0] as [MatrixPart, number, number]] : []),
    ['compute (device)', device.compute, estimate.parts.computeBufferBytes],
  ];
  if (c.devices && c.devices > 1) {
    const per = estimate.perGpu ?? [];
    for (let d = 0; d < c.devices && d < 2; d++) {
      const b = report.buffers.find((x) => x.name === `Vulkan${d}`);
      const mine = per[d];
      const i = d as 0 | 1;
      figures.push([`weights (device ${i})`, b?.weights ?? 0, mine?.weightsBytes ?? 0]);
      figures.push([`KV (device ${i})`, b?.kv ?? 0, mine?.kvCacheBytes ?? 0]);
      if (layersKnown) figures.push([`layers on device ${i}`, report.layers.filter((l) => l.layer < n && l.device === `Vulkan${d}`).length, mine?.layers ?? 0]);
      figures.push([`compute (device ${i})`, b?.compute ?? 0, mine?.computeBufferBytes ?? 0]);
    }
  }
  if (report.draft) {
    const onDevice = report.draft.buffers.filter((b) => !b.host);
    figures.push(['MTP draft KV (device)', onDevice.reduce((a, b) => a + b.kv, 0), draft.kv]);
    figures.push(['MTP draft compute (device)', onDevice.reduce((a, b) => a + b.compute, 0), draft.compute]);
  }
  // Where the device lacks an operation, the projector's graph runs it on the CPU: most of its
  // compute buffer is then host memory, and the device's share says little.
  let projectorNotHeld: string | undefined;
  if (c.projector) {
    const buffers = report.projector?.buffers ?? [];
    const onDevice = buffers.filter((b) => !/^(CPU|.*_Host)$/.test(b.name));
    const sum = (bs: typeof buffers, key: 'weights' | 'compute') => bs.reduce((a, b) => a + b[key], 0);
    const hostCompute = sum(buffers, 'compute') - sum(onDevice, 'compute');
    if (hostCompute > sum(onDevice, 'compute'))
      projectorNotHeld = `most of the projector's compute (${(hostCompute / MiB).toFixed(2)} MiB) is on the CPU: the device lacks operations it needs`;
    figures.push(['projector weights (device)', sum(onDevice, 'weights'), projector.weights]);
    figures.push(['projector compute (device)', sum(onDevice, 'compute'), projector.compute]);
  }
  const faOurs = estimate.assumptions.flashAttention;
  const faLlama = report.settings.flashAttention;
  const computeNotHeld =
    faLlama !== faOurs
      ? `flash attention ${faLlama} on Vulkan, ${faOurs} for CUDA`
      : faOurs === 'off'
        ? "flash attention off: CUDA reserves the whole attention-score matrix, lavapipe's Vulkan backend a fraction of it (the published CUDA logs show it)"
        : undefined;
  // llama-context.cpp: several devices, every layer and the output on them, -sm layer.
  const pipelineParallel = (c.devices ?? 1) > 1 && estimate.assumptions.gpuLayers === estimate.assumptions.totalLayers && placement.outputOnGpu;
  const parts: PartComparison[] = figures.map(([part, llama, ours]) => {
    if (COMPUTE_PARTS.includes(part)) {
      const within = llama === 0 ? ours === 0 : ours <= llama * COMPUTE_BOUND && ours >= llama / COMPUTE_BOUND;
      const perDevice = part === 'compute (device 0)' || part === 'compute (device 1)';
      const notHeld =
        part === 'projector compute (device)'
          ? (projectorNotHeld ?? computeNotHeld)
          : perDevice && pipelineParallel
            ? "pipeline parallelism (every layer on the devices): ggml's scheduler keeps copies of the inputs per device, which the estimate does not count"
            : perDevice && estimate.assumptions.gpuLayers < estimate.assumptions.totalLayers
              ? 'layers on the CPU too: the estimate gives each device a whole compute buffer, more than the scheduler reserves on the last one'
              : computeNotHeld;
      return { part, llama, ours, tolerance: llama * (COMPUTE_BOUND - 1), ok: notHeld !== undefined || within, notHeld };
    }
    const tolerance = matrixTolerance(part, llama);
    return { part, llama, ours, tolerance, ok: Math.abs(ours - llama) <= tolerance };
  });
  return { c, parts, report, dryRunMs, estimateMs };
}

/** Runs every case, at most `concurrency` dry runs at a time, in the cases' order. */
export async function runMatrix(cases: readonly MatrixCase[], concurrency = 2): Promise<CaseComparison[]> {
  const results: CaseComparison[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await compareCase(cases[i]!);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

export const argsText = (args: readonly string[]) => args.map((a) => (/[\s|\\()]/.test(a) ? `'${a}'` : a)).join(' ');

/** A case's settings for tables and test names (the projector by its shape's name). */
export const caseText = (c: MatrixCase) => argsText(c.projector ? [...c.args, '--mmproj', `${c.projector.id}.gguf`] : c.args);
