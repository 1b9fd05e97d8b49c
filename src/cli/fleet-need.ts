/**
 * The need of `vram-guard fleet --model F.gguf --args "…"`: the GGUF estimate for the llama-server
 * arguments that change memory (-c, -np, -ctk, -fa; split at spaces, a backslash escapes one). One function, so the estimate behind it can be
 * swapped without touching the fleet command.
 */
import { DEFAULT_CONTEXT, DEFAULT_KV_CACHE_TYPE, describeEstimate, estimateGgufFile, KV_CACHE_TYPES, type KvCacheType } from '../core/checks/gguf-estimate.ts';
import { UsageError } from './args.ts';
import { splitEscaped } from './server-flag.ts';

export interface ModelNeed {
  bytes: number;
  /** How the figure was made, in one line. */
  description: string;
}

export async function modelNeed(path: string, argsText: string): Promise<ModelNeed> {
  const args = splitEscaped(argsText.trim(), ' ').filter((a) => a !== '');
  let ctx: number | null = null;
  let parallel = 1;
  let kv: KvCacheType = DEFAULT_KV_CACHE_TYPE;
  let flash = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`--args: ${a} needs a value`);
      return v;
    };
    const whole = (v: string) => {
      if (!/^\d+$/.test(v)) throw new UsageError(`--args: ${a} needs a whole number, not "${v}"`);
      return Number(v);
    };
    if (a === '-c' || a === '--ctx-size') ctx = whole(value());
    else if (a === '-np' || a === '--parallel') parallel = Math.max(1, whole(value()));
    else if (a === '-ctk' || a === '--cache-type-k') {
      const v = value();
      if (!(KV_CACHE_TYPES as readonly string[]).includes(v)) throw new UsageError(`--args: ${a} must be one of ${KV_CACHE_TYPES.join(', ')}`);
      kv = v as KvCacheType;
    } else if (a === '-fa' || a === '--flash-attn') {
      const next = args[i + 1];
      if (next === 'on' || next === 'off' || next === 'auto') flash = args[++i] === 'on';
      else flash = true;
    }
  }
  const contextLength = ctx ? Math.max(1, Math.floor(ctx / parallel)) : DEFAULT_CONTEXT;
  const estimate = await estimateGgufFile(path, { contextLength, parallel, kvCacheType: kv, flashAttention: flash });
  if (!estimate.ok) throw new UsageError(`--model: ${estimate.reason} ${estimate.advice}`);
  return { bytes: estimate.totalBytes, description: describeEstimate(estimate) };
}
