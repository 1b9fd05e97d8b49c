/**
 * GGUF files for tests, written into a temp dir: metadata serialised by `@huggingface/gguf`
 * (`buildGgufHeader`), tensor infos written here. A fixture can be header-only: its tensor infos
 * declare a real model's shapes and types without gigabytes of data behind them.
 */
import { mkdtemp, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGgufHeader, GGUFValueType, type GGUFTypedMetadata } from '@huggingface/gguf';

/** ggml tensor type numbers used by the fixtures. */
export const T = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q6_K: 14, BF16: 30, MXFP4: 39 } as const;
const BLOCK: Record<number, [number, number]> = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 8: [32, 34], 12: [256, 144], 14: [256, 210], 30: [1, 2], 39: [32, 17] };

export interface FixtureTensor {
  name: string;
  /** ggml order: the row length first ([3072, 1024] for a 3072 → 1024 projection). */
  shape: number[];
  type: number;
}

export type FixtureValue = string | number | boolean | bigint | number[] | string[] | { value: unknown; type: number; subType?: number };

export interface FixtureSpec {
  metadata: Record<string, FixtureValue>;
  tensors: FixtureTensor[];
  /** Write zeroed tensor data after the header (only for small models). Default: header only. */
  withData?: boolean;
}

const ALIGNMENT = 32;
const pad = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

export function fixtureTensorBytes(t: FixtureTensor): number {
  const [elements, bytes] = BLOCK[t.type]!;
  return (t.shape.reduce((a, b) => a * b, 1) / elements) * bytes;
}

function typed(value: FixtureValue): { value: unknown; type: number; subType?: number } {
  if (typeof value === 'object' && !Array.isArray(value)) return value;
  if (typeof value === 'string') return { value, type: GGUFValueType.STRING };
  if (typeof value === 'boolean') return { value, type: GGUFValueType.BOOL };
  if (typeof value === 'bigint') return { value, type: GGUFValueType.UINT64 };
  if (typeof value === 'number') return { value, type: Number.isInteger(value) ? GGUFValueType.UINT32 : GGUFValueType.FLOAT32 };
  const strings = value.length > 0 && typeof value[0] === 'string';
  return { value, type: GGUFValueType.ARRAY, subType: strings ? GGUFValueType.STRING : GGUFValueType.INT32 };
}

function tensorInfoBytes(tensors: FixtureTensor[]): { bytes: Uint8Array; dataBytes: number } {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const name = Buffer.from(t.name, 'utf8');
    const b = Buffer.alloc(8 + name.length + 4 + 8 * t.shape.length + 4 + 8);
    let p = 0;
    b.writeBigUInt64LE(BigInt(name.length), p);
    p += 8;
    name.copy(b, p);
    p += name.length;
    b.writeUInt32LE(t.shape.length, p);
    p += 4;
    for (const d of t.shape) {
      b.writeBigUInt64LE(BigInt(d), p);
      p += 8;
    }
    b.writeUInt32LE(t.type, p);
    p += 4;
    b.writeBigUInt64LE(BigInt(offset), p);
    chunks.push(b);
    offset += pad(fixtureTensorBytes(t));
  }
  return { bytes: new Uint8Array(Buffer.concat(chunks)), dataBytes: offset };
}

/** The file's bytes. */
export async function ggufBytes(spec: FixtureSpec): Promise<Buffer> {
  const metadata: Record<string, unknown> = {
    version: { value: 3, type: GGUFValueType.UINT32 },
    tensor_count: { value: BigInt(spec.tensors.length), type: GGUFValueType.UINT64 },
    kv_count: { value: BigInt(Object.keys(spec.metadata).length), type: GGUFValueType.UINT64 },
  };
  for (const [k, v] of Object.entries(spec.metadata)) metadata[k] = typed(v);
  const infos = tensorInfoBytes(spec.tensors);
  const header = await buildGgufHeader(new Blob([infos.bytes]), metadata as GGUFTypedMetadata, {
    littleEndian: true,
    tensorInfoByteRange: [0, infos.bytes.length],
    alignment: ALIGNMENT,
  });
  const head = Buffer.from(await header.arrayBuffer());
  return spec.withData ? Buffer.concat([head, Buffer.alloc(infos.dataBytes)]) : head;
}

let dir: Promise<string> | undefined;

/** The temp dir the fixtures of this test run are written to. */
export async function fixtureDir(): Promise<string> {
  dir ??= mkdtemp(join(tmpdir(), 'vram-guard-gguf-'));
  return dir;
}

/**
 * Writes the fixture as NAME.gguf in a temp dir shared by the test run, and returns its path. With
 * `sparse`, a header-only fixture is extended to its full size as a sparse file (no blocks on
 * disk), so the tensor data it declares lies inside the file as a loader checks.
 */
export async function writeGguf(name: string, spec: FixtureSpec, options: { sparse?: boolean } = {}): Promise<string> {
  const path = join(await fixtureDir(), `${name}.gguf`);
  const bytes = await ggufBytes(spec);
  await writeFile(path, bytes);
  if (options.sparse && !spec.withData) await truncate(path, pad(bytes.length) + tensorInfoBytes(spec.tensors).dataBytes);
  return path;
}

// ---- Real models' shapes ----

/** llama.cpp's Q4_K_M recipe: attn_v and ffn_down get Q6_K in the first and last eighth of the layers and every third between. */
function moreBits(layer: number, layers: number): boolean {
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

interface LlamaShape {
  name: string;
  layers: number;
  embd: number;
  ffn: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  context: number;
  /** Output shares the token embedding (no output.weight). */
  tiedEmbeddings: boolean;
}

/** A Llama-architecture Q4_K_M file with the tensors llama.cpp writes for it. */
export function llamaQ4KM(s: LlamaShape): FixtureSpec {
  const headDim = s.embd / s.heads;
  const kvDim = s.kvHeads * headDim;
  const tensors: FixtureTensor[] = [
    { name: 'rope_freqs.weight', shape: [headDim / 2], type: T.F32 },
    // With tied embeddings the token embedding doubles as the output layer, which gets Q6_K.
    { name: 'token_embd.weight', shape: [s.embd, s.vocab], type: s.tiedEmbeddings ? T.Q6_K : T.Q4_K },
    { name: 'output_norm.weight', shape: [s.embd], type: T.F32 },
  ];
  if (!s.tiedEmbeddings) tensors.push({ name: 'output.weight', shape: [s.embd, s.vocab], type: T.Q6_K });
  for (let i = 0; i < s.layers; i++) {
    const more = moreBits(i, s.layers);
    tensors.push(
      { name: `blk.${i}.attn_norm.weight`, shape: [s.embd], type: T.F32 },
      { name: `blk.${i}.ffn_norm.weight`, shape: [s.embd], type: T.F32 },
      { name: `blk.${i}.attn_q.weight`, shape: [s.embd, s.embd], type: T.Q4_K },
      { name: `blk.${i}.attn_k.weight`, shape: [s.embd, kvDim], type: T.Q4_K },
      { name: `blk.${i}.attn_v.weight`, shape: [s.embd, kvDim], type: more ? T.Q6_K : T.Q4_K },
      { name: `blk.${i}.attn_output.weight`, shape: [s.embd, s.embd], type: T.Q4_K },
      { name: `blk.${i}.ffn_gate.weight`, shape: [s.embd, s.ffn], type: T.Q4_K },
      { name: `blk.${i}.ffn_up.weight`, shape: [s.embd, s.ffn], type: T.Q4_K },
      { name: `blk.${i}.ffn_down.weight`, shape: [s.ffn, s.embd], type: more ? T.Q6_K : T.Q4_K },
    );
  }
  return {
    metadata: {
      'general.architecture': 'llama',
      'general.name': s.name,
      'general.file_type': 15,
      'llama.block_count': s.layers,
      'llama.context_length': s.context,
      'llama.embedding_length': s.embd,
      'llama.feed_forward_length': s.ffn,
      'llama.attention.head_count': s.heads,
      'llama.attention.head_count_kv': s.kvHeads,
      'llama.rope.freq_base': { value: 500000, type: GGUFValueType.FLOAT32 },
      'llama.attention.layer_norm_rms_epsilon': 0.00001,
      'llama.attention.key_length': headDim,
      'llama.attention.value_length': headDim,
      'llama.vocab_size': s.vocab,
      'llama.rope.dimension_count': headDim,
      'tokenizer.ggml.model': 'gpt2',
    },
    tensors,
  };
}

/** Llama 3.2 3B Instruct, Q4_K_M: 255 tensors, 2,011,539,712 bytes of tensor data (llama.cpp: "model buffer size = 1918.35 MiB"). */
export const LLAMA_32_3B = llamaQ4KM({
  name: 'Llama 3.2 3B Instruct',
  layers: 28,
  embd: 3072,
  ffn: 8192,
  heads: 24,
  kvHeads: 8,
  vocab: 128256,
  context: 131072,
  tiedEmbeddings: true,
});

/** Llama 3.1 8B Instruct, Q4_K_M: 32 layers, 8 KV heads of 128 (the 1 GiB KV cache case at 8192 tokens). */
export const LLAMA_31_8B = llamaQ4KM({
  name: 'Meta Llama 3.1 8B Instruct',
  layers: 32,
  embd: 4096,
  ffn: 14336,
  heads: 32,
  kvHeads: 8,
  vocab: 128256,
  context: 131072,
  tiedEmbeddings: false,
});

/** A few small tensors so a fixture's metadata has something behind it. */
function smallTensors(): FixtureTensor[] {
  return [
    { name: 'token_embd.weight', shape: [64, 32], type: T.F16 },
    { name: 'output_norm.weight', shape: [64], type: T.F32 },
  ];
}

/** Qwen2.5 7B's attention shape (28 layers, 28 heads, 4 KV heads of 128), with small tensors and their data. */
export const QWEN25_7B_SHAPE: FixtureSpec = {
  metadata: {
    'general.architecture': 'qwen2',
    'general.name': 'Qwen2.5 7B Instruct',
    'qwen2.block_count': 28,
    'qwen2.context_length': 32768,
    'qwen2.embedding_length': 3584,
    'qwen2.feed_forward_length': 18944,
    'qwen2.attention.head_count': 28,
    'qwen2.attention.head_count_kv': 4,
  },
  tensors: smallTensors(),
  withData: true,
};

/** OpenELM 270M: head counts per layer, as arrays. */
export const OPENELM_270M: FixtureSpec = {
  metadata: {
    'general.architecture': 'openelm',
    'general.name': 'OpenELM 270M Instruct',
    'openelm.block_count': 16,
    'openelm.context_length': 2048,
    'openelm.embedding_length': 1280,
    'openelm.attention.head_count': [12, 12, 12, 12, 12, 16, 16, 16, 16, 16, 16, 16, 20, 20, 20, 20],
    'openelm.attention.head_count_kv': [3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5],
    'openelm.attention.key_length': 64,
    'openelm.attention.value_length': 64,
  },
  tensors: smallTensors(),
  withData: true,
};

/** Gemma 2 2B: sliding-window attention on every other layer. */
export const GEMMA2_2B: FixtureSpec = {
  metadata: {
    'general.architecture': 'gemma2',
    'general.name': 'Gemma 2 2B It',
    'gemma2.block_count': 26,
    'gemma2.context_length': 8192,
    'gemma2.embedding_length': 2304,
    'gemma2.attention.head_count': 8,
    'gemma2.attention.head_count_kv': 4,
    'gemma2.attention.key_length': 256,
    'gemma2.attention.value_length': 256,
    'gemma2.attention.sliding_window': 4096,
  },
  tensors: smallTensors(),
};

/** DeepSeek-V2-Lite: multi-head latent attention. */
export const DEEPSEEK_V2_LITE: FixtureSpec = {
  metadata: {
    'general.architecture': 'deepseek2',
    'general.name': 'DeepSeek-V2-Lite-Chat',
    'deepseek2.block_count': 27,
    'deepseek2.context_length': 163840,
    'deepseek2.embedding_length': 2048,
    'deepseek2.attention.head_count': 16,
    'deepseek2.attention.head_count_kv': 16,
    'deepseek2.attention.key_length': 192,
    'deepseek2.attention.value_length': 128,
    'deepseek2.attention.kv_lora_rank': 512,
  },
  tensors: smallTensors(),
};

/** Mamba 130M: a state-space model, no KV cache. */
export const MAMBA_130M: FixtureSpec = {
  metadata: {
    'general.architecture': 'mamba',
    'general.name': 'Mamba 130M',
    'mamba.block_count': 24,
    'mamba.context_length': 2 ** 20,
    'mamba.embedding_length': 768,
    'mamba.attention.head_count': 0,
    'mamba.ssm.conv_kernel': 4,
    'mamba.ssm.inner_size': 1536,
    'mamba.ssm.state_size': 16,
  },
  tensors: smallTensors(),
};

// ---- Hand-made headers for the fault tests: any count or length, true or not ----

/** Little-endian GGUF bytes written field by field, so a test can claim what the file does not hold. */
export class RawGguf {
  private readonly parts: Buffer[] = [];
  u32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    this.parts.push(b);
    return this;
  }
  u64(n: bigint | number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.parts.push(b);
    return this;
  }
  raw(bytes: Buffer | string): this {
    this.parts.push(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
    return this;
  }
  /** A GGUF string: u64 length, then the bytes. */
  str(s: string): this {
    return this.u64(Buffer.byteLength(s)).raw(s);
  }
  /** The magic, version 3, and the two counts. */
  header(tensorCount: bigint | number, kvCount: bigint | number): this {
    return this.raw('GGUF').u32(3).u64(tensorCount).u64(kvCount);
  }
  /** A metadata entry holding a string. */
  kvString(key: string, value: string): this {
    return this.str(key).u32(8).str(value);
  }
  kvU32(key: string, value: number): this {
    return this.str(key).u32(4).u32(value);
  }
  kvU64(key: string, value: bigint | number): this {
    return this.str(key).u32(10).u64(value);
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Writes raw bytes as NAME.gguf in the fixtures' temp dir. */
export async function writeRawGguf(name: string, bytes: Buffer): Promise<string> {
  const path = join(await fixtureDir(), `${name}.gguf`);
  await writeFile(path, bytes);
  return path;
}
