/** An estimate in words, for the pre-flight report, the gate's line in the task terminal and the log. */
import { formatMiB } from '../units.ts';
import type { EstimateAssumptions, EstimateParts } from './estimate-types.ts';

const PART_NAMES: Record<keyof EstimateParts, string> = {
  weightsBytes: 'weights',
  kvCacheBytes: 'KV cache',
  recurrentStateBytes: 'recurrent state',
  computeBufferBytes: 'compute buffer',
  projectorBytes: 'projector',
  draftBytes: 'draft model',
  runtimeBytes: 'CUDA context',
};

/** The parts, in a fixed order, with their names and sizes: zero parts other than the weights are left out. */
export function estimateParts(parts: EstimateParts): { name: string; key: keyof EstimateParts; bytes: number }[] {
  return (Object.keys(PART_NAMES) as (keyof EstimateParts)[])
    .filter((k) => k === 'weightsBytes' || k === 'kvCacheBytes' || parts[k] > 0)
    .map((k) => ({ name: PART_NAMES[k], key: k, bytes: parts[k] }));
}

/** "weights 1918 MiB + KV cache 448 MiB + compute buffer 257 MiB + CUDA context 256 MiB" */
export function describeParts(parts: EstimateParts): string {
  return estimateParts(parts)
    .map((p) => `${p.name} ${formatMiB(p.bytes)}`)
    .join(' + ');
}

/** "context 8192 tokens, 2 slots (KV per slot), flash attention on, KV cache q8_0/q8_0, micro-batch 512, 28 of 28 layers on the GPU" */
export function describeAssumptions(a: EstimateAssumptions): string {
  const slots = `${a.parallel} slot${a.parallel === 1 ? '' : 's'}${a.parallel > 1 ? (a.kvUnified ? ' (one unified KV cache)' : ' (KV cache split per slot)') : ''}`;
  const kv = a.cacheTypeK === a.cacheTypeV ? a.cacheTypeK : `K ${a.cacheTypeK}, V ${a.cacheTypeV}`;
  const base = `context ${a.contextTokens} tokens, ${slots}, flash attention ${a.flashAttention}, KV cache ${kv}, micro-batch ${a.ubatchTokens}, ${a.gpuLayers} of ${a.totalLayers} layers on the GPU`;
  return a.notes.length ? `${base} (${a.notes.join('; ')})` : base;
}
