/**
 * Reads the header of one GGUF file — its metadata and its tensor infos — and nothing of the
 * weights behind it, with asynchronous positioned reads of a small window.
 *
 * Every count and length the file claims is checked against the bytes the file actually has before
 * anything is allocated or looped over, so a corrupt or hostile header costs at most a read of the
 * file's own header bytes and ends in a sentence saying what is wrong:
 * - a string is at most what is left of the file, and only strings up to 1 MiB are kept;
 * - an array holds at most (bytes left / smallest item) items; the tokenizer's arrays and any large
 *   array are walked over (numbers by one seek, strings length by length) without being kept;
 * - at most 100,000 metadata entries and 100,000 tensors, each tensor at most 4 dimensions, each
 *   tensor's data inside the file, as llama.cpp's own loader demands;
 * - at most 64 MiB of names and values kept in all.
 *
 * Format: ggml's docs/gguf.md (version 2 and 3; version 1 is refused as llama.cpp refuses it).
 * Runs on Node 18.19+: `fs/promises` FileHandle reads only.
 */
import type { FileHandle } from 'node:fs/promises';
import { NotRegularFileError, openRegularFile } from '../regular-file.ts';
import { MiB } from '../units.ts';

/** GGUF metadata value types (gguf.h `enum gguf_type`). */
export const GGUF_VALUE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export type GgufScalar = number | boolean | string;

/** An array value: its items when they were kept, or only its length when they were walked over. */
export interface GgufArray {
  readonly kind: 'array';
  readonly itemType: number;
  readonly length: number;
  readonly items: readonly GgufScalar[] | null;
}

/** A string longer than the reader keeps: only its length. */
export interface GgufLongString {
  readonly kind: 'long-string';
  readonly bytes: number;
}

export type GgufValue = GgufScalar | GgufArray | GgufLongString;

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: the row length first. */
  readonly shape: readonly number[];
  /** ggml type number. */
  readonly type: number;
  /** Byte offset of the data from the start of the file's data section. */
  readonly offset: number;
}

export interface GgufHeader {
  readonly path: string;
  readonly fileBytes: number;
  readonly version: number;
  readonly littleEndian: boolean;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Where the tensor data starts (the header's end, aligned). */
  readonly dataOffset: number;
}

export type GgufHeaderResult = { readonly ok: true; readonly header: GgufHeader } | { readonly ok: false; readonly reason: string };

export const GGUF_LIMITS = {
  maxMetadataEntries: 100_000,
  maxTensors: 100_000,
  maxDimensions: 4,
  /** Longest string kept (a chat template is ~10 KiB); longer ones are walked over. */
  maxKeptStringBytes: MiB,
  /** Longest key (llama.cpp's keys are under 100 bytes). */
  maxKeyBytes: 64 * 1024,
  /** Largest array of numbers kept; tokenizer arrays are never kept. */
  maxKeptArrayItems: 65_536,
  maxKeptStringArrayItems: 4_096,
  /** All names and values kept together (keys, strings, tensor names): a real header keeps a few MiB. */
  maxKeptBytes: 64 * MiB,
} as const;

class HeaderProblem extends Error {}

/** The first read takes 64 KiB (most of a small header); each further read doubles, up to 4 MiB. */
const FIRST_WINDOW_BYTES = 64 * 1024;
const MAX_WINDOW_BYTES = 4 * MiB;

/** A forward-only window over the file: reads what is needed, seeks over what is not. */
class WindowReader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private window = FIRST_WINDOW_BYTES;
  pos = 0;
  /** Bytes of names and values kept so far, against GGUF_LIMITS.maxKeptBytes. */
  keptBytes = 0;
  littleEndian = true;
  private readonly fh: FileHandle;
  readonly fileBytes: number;
  constructor(fh: FileHandle, fileBytes: number) {
    this.fh = fh;
    this.fileBytes = fileBytes;
  }

  get left(): number {
    return this.fileBytes - this.pos;
  }

  private async ensure(n: number, what: string): Promise<Buffer> {
    if (n > this.left)
      throw new HeaderProblem(`the file ends ${this.left} bytes after offset ${this.pos}, inside ${what} that needs ${n} bytes (an incomplete download?)`);
    const endInBuf = this.bufStart + this.buf.length;
    if (this.pos >= this.bufStart && this.pos + n <= endInBuf) return this.buf;
    const size = Math.min(Math.max(n, this.window), this.left);
    this.window = Math.min(this.window * 2, MAX_WINDOW_BYTES);
    const fresh = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await this.fh.read(fresh, got, size - got, this.pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < n) throw new HeaderProblem(`the file could not be read past offset ${this.pos + got} (it shrank while being read?)`);
    this.buf = fresh.subarray(0, got);
    this.bufStart = this.pos;
    return this.buf;
  }

  skip(n: number, what: string): void {
    if (n > this.left) throw new HeaderProblem(`${what} claims ${n} bytes but only ${this.left} are left in the file`);
    this.pos += n;
  }

  /**
   * Walks over `count` strings without keeping them: reads each length from the window and jumps
   * over the bytes, awaiting a read only when the window runs out.
   */
  async skipStrings(count: number, what: string): Promise<void> {
    let i = 0;
    while (i < count) {
      const b = await this.ensure(8, `the length of item ${i} of ${what}`);
      const end = this.bufStart + b.length;
      while (i < count && this.pos + 8 <= end) {
        const at = this.pos - this.bufStart;
        const lo = this.littleEndian ? b.readUInt32LE(at) : b.readUInt32BE(at + 4);
        const hi = this.littleEndian ? b.readUInt32LE(at + 4) : b.readUInt32BE(at);
        const n = hi * 0x1_0000_0000 + lo;
        const left = this.fileBytes - this.pos - 8;
        if (n > left)
          throw new HeaderProblem(
            `item ${i} of ${what} claims to be ${n > Number.MAX_SAFE_INTEGER ? 'over 2^53' : n} bytes long but only ${left} bytes are left in the file`,
          );
        this.pos += 8 + n;
        i++;
      }
    }
  }

  async u32(what: string): Promise<number> {
    const b = await this.ensure(4, what);
    const v = this.littleEndian ? b.readUInt32LE(this.pos - this.bufStart) : b.readUInt32BE(this.pos - this.bufStart);
    this.pos += 4;
    return v;
  }

  /** A u64 as a number when it is exact (≤ 2^53), else Infinity: every caller bounds it anyway. */
  async u64(what: string): Promise<number> {
    const b = await this.ensure(8, what);
    const v = this.littleEndian ? b.readBigUInt64LE(this.pos - this.bufStart) : b.readBigUInt64BE(this.pos - this.bufStart);
    this.pos += 8;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Infinity;
  }

  async bytes(n: number, what: string): Promise<Buffer> {
    const b = await this.ensure(n, what);
    const at = this.pos - this.bufStart;
    this.pos += n;
    return b.subarray(at, at + n);
  }

  async scalar(type: number, what: string): Promise<number | boolean> {
    const size = SCALAR_BYTES[type];
    if (size === undefined) throw new HeaderProblem(`${what} has type ${type}, which GGUF does not define`);
    const b = await this.ensure(size, what);
    const at = this.pos - this.bufStart;
    this.pos += size;
    const le = this.littleEndian;
    switch (type) {
      case GGUF_VALUE.UINT8:
        return b.readUInt8(at);
      case GGUF_VALUE.INT8:
        return b.readInt8(at);
      case GGUF_VALUE.UINT16:
        return le ? b.readUInt16LE(at) : b.readUInt16BE(at);
      case GGUF_VALUE.INT16:
        return le ? b.readInt16LE(at) : b.readInt16BE(at);
      case GGUF_VALUE.UINT32:
        return le ? b.readUInt32LE(at) : b.readUInt32BE(at);
      case GGUF_VALUE.INT32:
        return le ? b.readInt32LE(at) : b.readInt32BE(at);
      case GGUF_VALUE.FLOAT32:
        return le ? b.readFloatLE(at) : b.readFloatBE(at);
      case GGUF_VALUE.BOOL:
        return b.readUInt8(at) !== 0;
      case GGUF_VALUE.UINT64:
        return Number(le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at));
      case GGUF_VALUE.INT64:
        return Number(le ? b.readBigInt64LE(at) : b.readBigInt64BE(at));
      default:
        return le ? b.readDoubleLE(at) : b.readDoubleBE(at);
    }
  }
}

const printable = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

async function readString(r: WindowReader, what: string, keep: boolean, maxKept: number): Promise<string | GgufLongString> {
  const n = await r.u64(`the length of ${what}`);
  if (n > r.left) throw new HeaderProblem(`${what} claims to be ${n === Infinity ? 'over 2^53' : n} bytes long but only ${r.left} bytes are left in the file`);
  if (!keep || n > maxKept) {
    r.skip(n, what);
    return { kind: 'long-string', bytes: n };
  }
  r.keptBytes += n;
  if (r.keptBytes > GGUF_LIMITS.maxKeptBytes)
    throw new HeaderProblem(`its names and values take more than ${GGUF_LIMITS.maxKeptBytes / 1024 / 1024} MiB (at ${what}); a model's header holds a few`);
  return (await r.bytes(n, what)).toString('utf8');
}

async function readValue(r: WindowReader, type: number, key: string): Promise<GgufValue> {
  const what = `the value of ${printable(key)}`;
  if (type === GGUF_VALUE.STRING) return readString(r, what, true, GGUF_LIMITS.maxKeptStringBytes);
  if (type === GGUF_VALUE.ARRAY) {
    const itemType = await r.u32(`the item type of ${what}`);
    const length = await r.u64(`the length of ${what}`);
    const itemBytes = itemType === GGUF_VALUE.STRING ? 8 : SCALAR_BYTES[itemType];
    if (itemBytes === undefined) throw new HeaderProblem(`${what} is an array of type ${itemType}, which GGUF does not define (nested arrays are not allowed)`);
    if (length * itemBytes > r.left)
      throw new HeaderProblem(
        `${what} claims ${length === Infinity ? 'over 2^53' : length} items (at least ${itemBytes} bytes each) but only ${r.left} bytes are left in the file`,
      );
    const tokenizer = key.startsWith('tokenizer.');
    if (itemType === GGUF_VALUE.STRING) {
      const keep = !tokenizer && length <= GGUF_LIMITS.maxKeptStringArrayItems;
      if (!keep) {
        await r.skipStrings(length, what);
        return { kind: 'array', itemType, length, items: null };
      }
      const items: string[] = [];
      for (let i = 0; i < length; i++) {
        const s = await readString(r, `item ${i} of ${what}`, keep, 4096);
        if (keep && typeof s === 'string') items.push(s);
      }
      return { kind: 'array', itemType, length, items: keep ? items : null };
    }
    if (tokenizer || length > GGUF_LIMITS.maxKeptArrayItems) {
      r.skip(length * itemBytes, what);
      return { kind: 'array', itemType, length, items: null };
    }
    const items: GgufScalar[] = [];
    for (let i = 0; i < length; i++) items.push(await r.scalar(itemType, what));
    return { kind: 'array', itemType, length, items };
  }
  if (SCALAR_BYTES[type] === undefined) throw new HeaderProblem(`${what} has type ${type}, which GGUF does not define`);
  return r.scalar(type, what);
}

/** Reads one GGUF file's header. Never throws: an unreadable or implausible header is a reason. */
export async function readGgufHeader(path: string): Promise<GgufHeaderResult> {
  let fh: FileHandle | undefined;
  try {
    // A FIFO or device is refused before a byte is read: opening a FIFO would wait for a writer forever.
    fh = await openRegularFile(path);
    const stats = await fh.stat();
    const r = new WindowReader(fh, stats.size);
    if (stats.size < 24) return { ok: false, reason: `${path} is not a GGUF file: it is only ${stats.size} bytes long.` };
    const magic = await r.bytes(4, 'the magic number');
    if (magic.toString('latin1') !== 'GGUF') {
      return { ok: false, reason: `${path} is not a GGUF file: it starts with ${JSON.stringify(magic.toString('latin1'))}, not "GGUF".` };
    }
    let version = await r.u32('the version');
    if (version > 0xffff && (version & 0xffff) === 0) {
      r.littleEndian = false;
      version = ((version >>> 24) | ((version >>> 8) & 0xff00)) >>> 0;
    }
    if (version === 1) return { ok: false, reason: `${path} is GGUF version 1, which llama.cpp no longer loads: convert the model again.` };
    if (version !== 2 && version !== 3) return { ok: false, reason: `${path} says it is GGUF version ${version}; VRAM Guard reads versions 2 and 3.` };
    const tensorCount = await r.u64('the tensor count');
    const kvCount = await r.u64('the metadata count');
    // Each metadata entry takes at least 13 bytes (key length, type, one byte of value); each tensor info 24.
    const minBytes = tensorCount * 24 + kvCount * 13;
    if (kvCount > GGUF_LIMITS.maxMetadataEntries)
      throw new HeaderProblem(
        `it claims ${kvCount === Infinity ? 'over 2^53' : kvCount} metadata entries (at most ${GGUF_LIMITS.maxMetadataEntries} are read)`,
      );
    if (tensorCount > GGUF_LIMITS.maxTensors)
      throw new HeaderProblem(`it claims ${tensorCount === Infinity ? 'over 2^53' : tensorCount} tensors (at most ${GGUF_LIMITS.maxTensors} are read)`);
    if (minBytes > r.left)
      throw new HeaderProblem(
        `it claims ${kvCount} metadata entries and ${tensorCount} tensors, which need at least ${minBytes} bytes, but only ${r.left} are left in the file`,
      );

    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = await readString(r, `the key of metadata entry ${i}`, true, GGUF_LIMITS.maxKeyBytes);
      if (typeof key !== 'string') throw new HeaderProblem(`the key of metadata entry ${i} is ${key.bytes} bytes long (keys are short names)`);
      const type = await r.u32(`the type of ${printable(key)}`);
      const value = await readValue(r, type, key);
      if (metadata.has(key)) throw new HeaderProblem(`the key ${printable(key)} appears twice`);
      metadata.set(key, value);
    }
    const alignmentValue = metadata.get('general.alignment');
    const alignment = alignmentValue === undefined ? 32 : alignmentValue;
    if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
      throw new HeaderProblem(`general.alignment is ${JSON.stringify(alignment)}, not a power of two`);
    }

    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = await readString(r, `the name of tensor ${i}`, true, 64 * 1024);
      if (typeof name !== 'string') throw new HeaderProblem(`the name of tensor ${i} is ${name.bytes} bytes long`);
      const dims = await r.u32(`the dimension count of ${printable(name)}`);
      if (dims > GGUF_LIMITS.maxDimensions)
        throw new HeaderProblem(`tensor ${printable(name)} claims ${dims} dimensions (ggml has at most ${GGUF_LIMITS.maxDimensions})`);
      const shape: number[] = [];
      let elements = 1;
      for (let d = 0; d < dims; d++) {
        const n = await r.u64(`a dimension of ${printable(name)}`);
        elements *= n;
        shape.push(n);
      }
      if (!(elements <= Number.MAX_SAFE_INTEGER))
        throw new HeaderProblem(
          `tensor ${printable(name)} claims shape [${shape.map((n) => (n === Infinity ? '>2^53' : n)).join(', ')}], more elements than any file can hold`,
        );
      const type = await r.u32(`the type of ${printable(name)}`);
      const offset = await r.u64(`the data offset of ${printable(name)}`);
      if (offset === Infinity || offset % alignment !== 0)
        throw new HeaderProblem(
          `tensor ${printable(name)} has data offset ${offset === Infinity ? 'over 2^53' : offset}, not a multiple of the alignment ${alignment}`,
        );
      tensors.push({ name, shape, type, offset });
    }
    const dataOffset = Math.ceil(r.pos / alignment) * alignment;
    return { ok: true, header: { path, fileBytes: stats.size, version, littleEndian: r.littleEndian, metadata, tensors, alignment, dataOffset } };
  } catch (err) {
    if (err instanceof HeaderProblem) return { ok: false, reason: `${path}: this header is not plausible: ${err.message}.` };
    if (err instanceof NotRegularFileError) return { ok: false, reason: `${err.message}: a model must be a file to be read.` };
    const e = err as NodeJS.ErrnoException;
    const what =
      e.code === 'ENOENT' ? 'the file does not exist' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a folder' : e.message;
    return { ok: false, reason: `${path} could not be read: ${what}.` };
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
