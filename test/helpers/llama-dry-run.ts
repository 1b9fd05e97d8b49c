/**
 * Runs the real llama.cpp's dry run (test/tools/llama-dry-run.cpp, built by `npm run setup:llama`):
 * what llama-server would allocate for a model and its arguments, per buffer type, without
 * allocating it. The GPU-like device is Mesa's software Vulkan device (lavapipe), so any machine
 * can run it; `GGML_VK_VISIBLE_DEVICES=0` makes ggml-vulkan take it (it skips CPU devices otherwise).
 * `devices` > 1 names it that many times (`0,0`): ggml-vulkan then opens it as that many devices
 * (Vulkan0, Vulkan1, …), each with its own buffers, as several GPUs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dryRunToolPath } from '../../scripts/llama/dry-run-tool.ts';
import { LLAMA_SETUP_HINT, llamaPaths } from '../../scripts/llama/paths.ts';
import { MiB } from '../../src/core/units.ts';

/** One buffer type's share: the device's (`Vulkan0`), its pinned host memory (`Vulkan_Host`) or the CPU's. */
export interface DryRunBuffer {
  readonly name: string;
  readonly host: boolean;
  readonly weights: number;
  readonly kv: number;
  readonly recurrent: number;
  readonly compute: number;
}

export interface DryRunReport {
  readonly buffers: readonly DryRunBuffer[];
  /** Each layer's device as llama.cpp placed its weights; layer `settings.layers` is the output layer. */
  readonly layers: readonly { layer: number; device: string }[];
  /** With `--mmproj`: the projector's weights and warm-up compute buffer per device (compute to 0.01 MiB). */
  readonly projector: { readonly buffers: readonly { name: string; weights: number; compute: number }[] } | null;
  /** With `--spec-type draft-mtp`: the MTP draft context's KV cache and compute buffer per buffer type. */
  readonly draft: {
    readonly contextTokens: number;
    readonly buffers: readonly { name: string; host: boolean; kv: number; recurrent: number; compute: number }[];
  } | null;
  /** The logits/embeddings output buffer (host memory), to 0.01 MiB as llama.cpp logs it. */
  readonly outputBytes: number;
  readonly settings: {
    readonly contextTokens: number;
    readonly sequences: number;
    readonly kvUnified: boolean;
    readonly ubatchTokens: number;
    readonly batchTokens: number;
    readonly flashAttention: 'on' | 'off' | 'auto';
    readonly cacheTypeK: string;
    readonly cacheTypeV: string;
    readonly gpuLayers: number;
    readonly layers: number;
  };
  /** llama.cpp's log (stderr), for failure messages. */
  readonly log: string;
}

/** The device's buffers (not host memory), summed. */
export function deviceTotals(report: DryRunReport): Omit<DryRunBuffer, 'name' | 'host'> {
  const sum = { weights: 0, kv: 0, recurrent: 0, compute: 0 };
  for (const b of report.buffers) {
    if (b.host) continue;
    sum.weights += b.weights;
    sum.kv += b.kv;
    sum.recurrent += b.recurrent;
    sum.compute += b.compute;
  }
  return sum;
}

/** The host's buffers (CPU, pinned host memory, repacked CPU weights), summed. */
export function hostTotals(report: DryRunReport): Omit<DryRunBuffer, 'name' | 'host'> {
  const sum = { weights: 0, kv: 0, recurrent: 0, compute: 0 };
  for (const b of report.buffers) {
    if (!b.host) continue;
    sum.weights += b.weights;
    sum.kv += b.kv;
    sum.recurrent += b.recurrent;
    sum.compute += b.compute;
  }
  return sum;
}

/** The tool, or an error saying how to get it. */
export function dryRunTool(): string {
  const tool = dryRunToolPath();
  if (!existsSync(tool)) throw new Error(`the llama.cpp dry-run tool is not built (${tool}): run ${LLAMA_SETUP_HINT}`);
  return tool;
}

/** llama.cpp's dry run of `llama-server -m modelPath ...serverArgs`. */
export function llamaDryRun(modelPath: string, serverArgs: readonly string[], devices = 1): Promise<DryRunReport> {
  const tool = dryRunTool();
  const args = ['--backends', llamaPaths.vulkanLibs, '-m', modelPath, ...serverArgs];
  return new Promise((resolve, reject) => {
    execFile(
      tool,
      args,
      { env: { ...process.env, GGML_VK_VISIBLE_DEVICES: Array(devices).fill('0').join(',') }, maxBuffer: 64 * MiB, timeout: 60_000 },
      (err, stdout, stderr) => {
        const last = stdout.trim().split('\n').pop() ?? '';
        if (err || !last.startsWith('{')) {
          const tail = stderr.trim().split('\n').slice(-15).join('\n');
          reject(new Error(`llama.cpp's dry run failed for ${[...args].join(' ')}: ${err?.message ?? 'no report'}\n${tail}`));
          return;
        }
        resolve({ ...(JSON.parse(last) as Omit<DryRunReport, 'log'>), log: stderr });
      },
    );
  });
}
