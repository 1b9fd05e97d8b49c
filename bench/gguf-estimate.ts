/**
 * The estimate for a ~20 GiB model split in three GGUF files (sparse files: the headers are real,
 * the weights are holes), with a full tokenizer (152,064 tokens and 151,387 merges) in the first
 * shard as a real file has: the time from path to estimate, median of repeated runs. Only the
 * headers are read, so it must not depend on the size of the weights.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readGgufModel } from '../src/core/estimate/gguf-model.ts';
import { DEFAULT_LLAMA_SETTINGS } from '../src/core/estimate/llama-settings.ts';
import { estimateVram } from '../src/core/estimate/vram-estimate.ts';
import { fixtureDir, llamaQ4KM, writeGguf, type FixtureSpec } from '../test/helpers/gguf-fixtures.ts';

export const GGUF_ESTIMATE_TARGET_MS = 50;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Writes the three shards; returns the first one's path and the model's total bytes. */
async function writeSplitModel(): Promise<{ path: string; bytes: number }> {
  // A Qwen2.5-32B-shaped model in Q4_K_M, 70 layers of 5120: about 20 GiB of weights.
  const whole = llamaQ4KM({
    name: 'Bench 32B',
    layers: 70,
    embd: 5120,
    ffn: 27648,
    heads: 40,
    kvHeads: 8,
    vocab: 152064,
    context: 32768,
    tiedEmbeddings: false,
  });
  const tokens = Array.from({ length: 152064 }, (_, i) => `tok${i}`);
  const merges = Array.from({ length: 151387 }, (_, i) => `m${i} n${i}`);
  const count = 3;
  const per = Math.ceil(whole.tensors.length / count);
  let first = '';
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const tensors = whole.tensors.slice(i * per, (i + 1) * per);
    const split = {
      'split.no': { value: i, type: 2 },
      'split.count': { value: count, type: 2 },
      'split.tensors.count': { value: whole.tensors.length, type: 5 },
    };
    const spec: FixtureSpec =
      i === 0
        ? { metadata: { ...whole.metadata, ...split, 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.merges': merges }, tensors }
        : { metadata: split, tensors };
    const path = await writeGguf(`bench-32b-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}`, spec, { sparse: true });
    if (i === 0) first = path;
  }
  const model = await readGgufModel(first);
  if (model.kind !== 'model') throw new Error(`the bench model did not read: ${model.reason}`);
  bytes = model.fileBytes;
  return { path: first, bytes };
}

export interface GgufEstimateBench {
  fileBytes: number;
  files: number;
  runs: number;
  medianMs: number;
  p90Ms: number;
  targetMs: number;
}

export async function measureGgufEstimate(runs = 41): Promise<GgufEstimateBench> {
  const { path, bytes } = await writeSplitModel();
  const times: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = process.hrtime.bigint();
    const model = await readGgufModel(path);
    if (model.kind !== 'model') throw new Error(model.reason);
    const e = estimateVram(model, DEFAULT_LLAMA_SETTINGS, { gpuFreeBytes: 24 * 1024 ** 3 });
    if (e.kind !== 'estimate') throw new Error(e.reason);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= 3) times.push(ms);
  }
  if (!process.env.KEEP) await rm(join(await fixtureDir()), { recursive: true, force: true });
  else console.log(await fixtureDir());
  const sorted = [...times].sort((a, b) => a - b);
  return { fileBytes: bytes, files: 3, runs, medianMs: median(times), p90Ms: sorted[Math.floor(0.9 * sorted.length)]!, targetMs: GGUF_ESTIMATE_TARGET_MS };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await measureGgufEstimate());
}
