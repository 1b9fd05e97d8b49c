/**
 * Split GGUF files: llama.cpp's gguf-split writes a model as `NAME-00001-of-00003.gguf` …, each
 * shard with `split.no`, `split.count` and (in the first) `split.tensors.count`, and loads them as
 * one model when given the first. These are the shards' paths, from the first one's.
 */
import { basename, dirname, join } from 'node:path';

const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/** At most this many shards (gguf-split numbers them with five digits; llama.cpp's own limit is lower in practice). */
export const MAX_SPLIT_FILES = 1000;

export interface SplitName {
  readonly prefix: string;
  readonly index: number;
  readonly count: number;
}

/** The shard number and count a file name says, or null for a file that is not named as a shard. */
export function parseSplitName(path: string): SplitName | null {
  const m = SPLIT_NAME.exec(basename(path));
  const [, prefix, index, count] = m ?? [];
  if (prefix === undefined) return null;
  return { prefix, index: Number(index), count: Number(count) };
}

/** llama.cpp's `llama_split_path`: PREFIX-%05d-of-%05d.gguf, shard numbers from 1. */
export function splitPath(firstPath: string, prefix: string, index: number, count: number): string {
  const five = (n: number) => String(n).padStart(5, '0');
  return join(dirname(firstPath), `${prefix}-${five(index)}-of-${five(count)}.gguf`);
}
