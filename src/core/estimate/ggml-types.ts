/**
 * ggml's tensor element types: how many elements one block holds and how many bytes it takes, by
 * the type's number in a GGUF file (ggml.h's `enum ggml_type`, ggml.c's `type_traits`), and the
 * bytes of a row or a whole tensor of them.
 */
import type { KvCacheType } from './llama-settings.ts';

export interface GgmlType {
  readonly name: string;
  readonly blockElements: number;
  readonly blockBytes: number;
}

const t = (name: string, blockElements: number, blockBytes: number): GgmlType => ({ name, blockElements, blockBytes });

/** By type number. Numbers ggml retired (4, 5: Q4_2/Q4_3; 31–33: Q4_0_4_4 and friends) are absent. */
export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map([
  [0, t('f32', 1, 4)],
  [1, t('f16', 1, 2)],
  [2, t('q4_0', 32, 18)],
  [3, t('q4_1', 32, 20)],
  [6, t('q5_0', 32, 22)],
  [7, t('q5_1', 32, 24)],
  [8, t('q8_0', 32, 34)],
  [9, t('q8_1', 32, 36)],
  [10, t('q2_K', 256, 84)],
  [11, t('q3_K', 256, 110)],
  [12, t('q4_K', 256, 144)],
  [13, t('q5_K', 256, 176)],
  [14, t('q6_K', 256, 210)],
  [15, t('q8_K', 256, 292)],
  [16, t('iq2_xxs', 256, 66)],
  [17, t('iq2_xs', 256, 74)],
  [18, t('iq3_xxs', 256, 98)],
  [19, t('iq1_s', 256, 50)],
  [20, t('iq4_nl', 32, 18)],
  [21, t('iq3_s', 256, 110)],
  [22, t('iq2_s', 256, 82)],
  [23, t('iq4_xs', 256, 136)],
  [24, t('i8', 1, 1)],
  [25, t('i16', 1, 2)],
  [26, t('i32', 1, 4)],
  [27, t('i64', 1, 8)],
  [28, t('f64', 1, 8)],
  [29, t('iq1_m', 256, 56)],
  [30, t('bf16', 1, 2)],
  [34, t('tq1_0', 256, 54)],
  [35, t('tq2_0', 256, 66)],
  [39, t('mxfp4', 32, 17)],
]);

/** The ggml type number of each KV cache type llama.cpp accepts for `-ctk`/`-ctv`. */
export const KV_CACHE_GGML_TYPE: Readonly<Record<KvCacheType, number>> = {
  f32: 0,
  f16: 1,
  bf16: 30,
  q8_0: 8,
  q5_1: 7,
  q5_0: 6,
  q4_1: 3,
  q4_0: 2,
  iq4_nl: 20,
};

export function isQuantizedKvType(type: KvCacheType): boolean {
  return !['f32', 'f16', 'bf16'].includes(type);
}

/** ggml_row_size: bytes of `elements` elements of one row (a whole number of blocks). */
export function rowBytes(type: GgmlType, elements: number): number {
  return Math.ceil(elements / type.blockElements) * type.blockBytes;
}

/** Bytes of a KV cache row of `elements` elements in a cache type (q8_0: 34 B per 32 elements). */
export function kvRowBytes(type: KvCacheType, elements: number): number {
  const ggmlType = GGML_TYPES.get(KV_CACHE_GGML_TYPE[type]);
  if (!ggmlType) throw new Error(`the KV cache type ${type} has no ggml type`);
  return rowBytes(ggmlType, elements);
}

/** Bytes of a tensor of this shape and type, or null for a type number ggml does not have. */
export function tensorDataBytes(typeNumber: number, shape: readonly number[]): number | null {
  const type = GGML_TYPES.get(typeNumber);
  if (!type) return null;
  const [first = 1, ...rest] = shape;
  let rows = 1;
  for (const d of rest) rows *= d;
  return rowBytes(type, first) * rows;
}
