/**
 * What the server will take once free memory is known, and what would fit when it does not.
 *
 * `planFit`: llama.cpp's `--fit` (on unless `--fit off`) adjusts what the command line left unset
 * so that the model fits free memory less the fit target (`--fit-target`, 1024 MiB by default):
 * with no `-c` it lowers the context (not below `--fit-ctx`, 4096), and with no `-ngl` it keeps
 * fewer layers on the GPU. A server it adjusts takes all free memory but that margin; the plan
 * says so plainly.
 *
 * `fitAdvice`: each way out, computed with the estimate: the largest context that fits, the same
 * with a q8_0 KV cache, with flash attention, with one slot (`-np 1`) when llama-server's default
 * slots are what does not fit, with the experts of N layers on the CPU, and `-ngl N` (the most
 * layers that fit) when even the smallest context does not — the flags ready to paste and the new
 * total.
 *
 * `adviseServerArgs`: the same as one pure function of (model, settings, free bytes): the budget is
 * the free memory less the fit target, and each suggestion's flags, applied to the arguments with
 * `argsWithFlags`, are a command line the estimate says fits.
 */
import { formatMiB, MiB } from '../units.ts';
import type { EstimateResult, VramEstimate } from './estimate-types.ts';
import type { LlamaSettings } from './llama-settings.ts';
import type { ModelEstimator } from './model-estimator.ts';

/** llama.cpp's default `--fit-target` and `--fit-ctx`. */
export const DEFAULT_FIT_TARGET_BYTES = 1024 * MiB;
export const FIT_MIN_CONTEXT = 4096;
/** llama.cpp pads the context to a multiple of 256. */
export const CONTEXT_STEP = 256;

export type ServerFlavour = 'llama-server' | 'ollama';

export interface FitPlan {
  /** The estimate at the settings the server will really run with. */
  estimate: VramEstimate;
  settings: LlamaSettings;
  /** What `--fit` changed, in one sentence; null when it changed nothing. */
  note: string | null;
  /** `--fit` shrank something: the server takes all free memory but the fit target. */
  takesAllFree: boolean;
}

const total = (e: EstimateResult): number => (e.kind === 'estimate' ? e.totalBytes : Number.POSITIVE_INFINITY);

/** Largest whole step in [lo, hi] for which `fits(step)` holds, assuming it holds for small steps only; null when none. */
function largest(lo: number, hi: number, fits: (n: number) => boolean): number | null {
  if (hi < lo || !fits(lo)) return null;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Smallest n in [lo, hi] for which `fits(n)` holds, assuming it holds for large n only; null when none. */
function smallest(lo: number, hi: number, fits: (n: number) => boolean): number | null {
  if (hi < lo || !fits(hi)) return null;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The settings and estimate the server will run with, given free memory (null: unknown). */
export function planFit(estimator: ModelEstimator, settings: LlamaSettings, estimate: VramEstimate, freeBytes: number | null): FitPlan {
  const unchanged: FitPlan = { estimate, settings, note: null, takesAllFree: false };
  if (settings.fit === false) return unchanged;
  const target = settings.fitTargetBytes ?? DEFAULT_FIT_TARGET_BYTES;
  const noContext = !settings.contextTokens;
  if (freeBytes === null) {
    return noContext
      ? {
          ...unchanged,
          note: `No -c and --fit is on (llama.cpp's default): llama-server will lower the context to what fits free memory less ${formatMiB(target)} when it starts; this figure is for the full ${estimate.assumptions.contextTokens} tokens.`,
        }
      : unchanged;
  }
  const budget = freeBytes - target;
  if (estimate.totalBytes <= budget) return unchanged;
  const trained = estimate.assumptions.contextTokens;
  if (noContext) {
    const floor = Math.min(FIT_MIN_CONTEXT, trained);
    const steps = largest(
      Math.ceil(floor / CONTEXT_STEP),
      Math.floor(trained / CONTEXT_STEP),
      (n) => total(estimator.estimate({ ...settings, contextTokens: n * CONTEXT_STEP })) <= budget,
    );
    if (steps !== null) {
      const s = { ...settings, contextTokens: steps * CONTEXT_STEP };
      const e = estimator.estimate(s) as VramEstimate;
      return {
        estimate: e,
        settings: s,
        takesAllFree: true,
        note: `No -c and --fit is on (llama.cpp's default): the full ${trained}-token context (${formatMiB(estimate.totalBytes)}) does not fit, so llama-server will lower it to about ${s.contextTokens} tokens and take about ${formatMiB(e.totalBytes)}: all free memory but the ${formatMiB(target)} fit margin. Give -c to choose the context yourself.`,
      };
    }
  }
  if (settings.gpuLayers === null) {
    const base = noContext ? { ...settings, contextTokens: Math.min(FIT_MIN_CONTEXT, trained) } : settings;
    const layers = estimate.assumptions.totalLayers;
    const n = largest(0, layers, (k) => total(estimator.estimate({ ...base, gpuLayers: k })) <= budget);
    if (n !== null && n < layers) {
      const s = { ...base, gpuLayers: n };
      const e = estimator.estimate(s) as VramEstimate;
      return {
        estimate: e,
        settings: s,
        takesAllFree: true,
        note: `--fit is on (llama.cpp's default) and the model does not fit on the GPU${noContext ? ` even at ${base.contextTokens} tokens` : ''}: llama-server will keep only ${n} of ${layers} layers on the GPU (the rest run on the CPU, much slower) and take about ${formatMiB(e.totalBytes)}: all free memory but the ${formatMiB(target)} fit margin.`,
      };
    }
  }
  return unchanged;
}

export interface FitSuggestion {
  /** "Largest context that fits", "... with a q8_0 KV cache", ... */
  title: string;
  /** Ready to paste: "-c 12288 -ctk q8_0 -ctv q8_0", or "OLLAMA_CONTEXT_LENGTH=12288". */
  flags: string;
  totalBytes: number;
  contextTokens: number;
}

function contextFlag(flavour: ServerFlavour, contextTokens: number, parallel: number): string {
  return flavour === 'ollama' ? `OLLAMA_CONTEXT_LENGTH=${Math.floor(contextTokens / Math.max(1, parallel))}` : `-c ${contextTokens}`;
}

/**
 * Ways to fit in `budgetBytes` (free memory less the margin), each checked with the estimate.
 * Empty when the plan already fits or nothing found fits.
 */
export function fitAdvice(estimator: ModelEstimator, plan: FitPlan, budgetBytes: number, flavour: ServerFlavour): FitSuggestion[] {
  const out: FitSuggestion[] = [];
  const base = plan.settings;
  const current = plan.estimate.assumptions;
  if (plan.estimate.totalBytes <= budgetBytes) return out;
  const parallel = current.parallel;
  const at = (s: LlamaSettings) => total(estimator.estimate(s));
  const bestContext = (s: LlamaSettings): number | null => {
    const steps = largest(
      1,
      Math.floor((current.contextTokens - 1) / CONTEXT_STEP),
      (n) => at({ ...s, contextTokens: n * CONTEXT_STEP, fit: s.fit }) <= budgetBytes,
    );
    return steps === null ? null : steps * CONTEXT_STEP;
  };
  const push = (title: string, s: LlamaSettings, extra: string[]) => {
    const e = estimator.estimate(s);
    if (e.kind !== 'estimate') return;
    out.push({ title, flags: extra.join(' '), totalBytes: e.totalBytes, contextTokens: e.assumptions.contextTokens });
  };

  // 1. The largest context that fits, as it is.
  const ctx = bestContext(base);
  if (ctx !== null) push('Largest context that fits', { ...base, contextTokens: ctx }, [contextFlag(flavour, ctx, parallel)]);

  // 2. A q8_0 KV cache (needs flash attention for the V cache), at the current context if it fits, else the largest.
  const quantized = current.cacheTypeK !== 'q8_0' && !['q5_1', 'q5_0', 'q4_1', 'q4_0', 'iq4_nl'].includes(current.cacheTypeK);
  if (quantized) {
    const q: LlamaSettings = { ...base, cacheTypeK: 'q8_0', cacheTypeV: 'q8_0', flashAttention: current.flashAttention === 'off' ? 'on' : base.flashAttention };
    const qFlags =
      flavour === 'ollama'
        ? ['OLLAMA_KV_CACHE_TYPE=q8_0', ...(current.flashAttention === 'off' ? ['OLLAMA_FLASH_ATTENTION=1'] : [])]
        : ['-ctk q8_0 -ctv q8_0', ...(current.flashAttention === 'off' ? ['-fa on'] : [])];
    if (at({ ...q, contextTokens: current.contextTokens }) <= budgetBytes)
      push('Same context with a q8_0 KV cache', { ...q, contextTokens: current.contextTokens }, qFlags);
    else {
      const c = bestContext(q);
      if (c !== null) push('Largest context with a q8_0 KV cache', { ...q, contextTokens: c }, [contextFlag(flavour, c, parallel), ...qFlags]);
    }
  }

  // 3. Flash attention, when it is off.
  if (current.flashAttention === 'off') {
    const f: LlamaSettings = { ...base, flashAttention: 'on' };
    const fFlag = flavour === 'ollama' ? 'OLLAMA_FLASH_ATTENTION=1' : '-fa on';
    if (at({ ...f, contextTokens: current.contextTokens }) <= budgetBytes)
      push('Same context with flash attention', { ...f, contextTokens: current.contextTokens }, [fFlag]);
    else {
      const c = bestContext(f);
      if (c !== null) push('Largest context with flash attention', { ...f, contextTokens: c }, [contextFlag(flavour, c, parallel), fFlag]);
    }
  }

  // 4. One slot: llama-server's default is 4 slots sharing the cache, and each slot is a sequence the
  // recurrent state and the reserved graph are sized for. Asked for when the slots were not chosen
  // (or more than one was), at the current context, else the largest context with one slot.
  if (parallel > 1) {
    const one: LlamaSettings = { ...base, parallel: 1, kvUnified: null };
    const npFlag = flavour === 'ollama' ? 'OLLAMA_NUM_PARALLEL=1' : '-np 1';
    const sameContext = flavour === 'ollama' ? Math.floor(current.contextTokens / parallel) : current.contextTokens;
    if (at({ ...one, contextTokens: sameContext }) <= budgetBytes)
      push(flavour === 'ollama' ? 'One slot' : 'One slot (llama-server starts 4 without -np)', { ...one, contextTokens: sameContext }, [npFlag]);
    else {
      const c = bestContext(one);
      if (c !== null) push('Largest context with one slot', { ...one, contextTokens: c }, [contextFlag(flavour, c, 1), npFlag]);
    }
  }

  // 5. Experts on the CPU (llama-server only): the fewest layers whose experts must move.
  if (flavour === 'llama-server' && !base.cpuMoeAll) {
    const all = at({ ...base, contextTokens: current.contextTokens, cpuMoeAll: true });
    if (all < plan.estimate.totalBytes - 64 * MiB) {
      const n = smallest(1, current.totalLayers, (k) => at({ ...base, contextTokens: current.contextTokens, cpuMoeLayers: k }) <= budgetBytes);
      if (n !== null)
        push(`Experts of ${n} layer${n === 1 ? '' : 's'} on the CPU`, { ...base, contextTokens: current.contextTokens, cpuMoeLayers: n }, [`--n-cpu-moe ${n}`]);
      else if (all <= budgetBytes) push('Every expert on the CPU', { ...base, contextTokens: current.contextTokens, cpuMoeAll: true }, ['--cpu-moe']);
    }
  }
  // 6. Layers on the CPU (llama-server only), when nothing above fits: the most layers that fit at
  // the smallest context llama-server's --fit would keep (4096, or the current one if smaller).
  if (flavour === 'llama-server' && out.length === 0) {
    const layers = current.totalLayers;
    const ctx = Math.min(FIT_MIN_CONTEXT, current.contextTokens);
    const atLayers = (k: number) => at({ ...base, contextTokens: ctx, gpuLayers: k });
    const n = largest(0, layers, (k) => atLayers(k) <= budgetBytes);
    if (n !== null && n >= 1 && n < layers + 1) {
      const flags = [...(ctx !== current.contextTokens ? [contextFlag(flavour, ctx, parallel)] : []), `-ngl ${n}`];
      push(
        `${n} of ${layers + 1} layers on the GPU (the output layer first; the rest run on the CPU, much slower)`,
        { ...base, contextTokens: ctx, gpuLayers: n },
        flags,
      );
    }
  }
  return out;
}

/**
 * The advice for `settings` on a GPU with `freeBytes` free: what `--fit` will do, and each way to fit
 * in the free memory less the fit target. Pure: the estimator is the model, read once.
 */
export function adviseServerArgs(
  estimator: ModelEstimator,
  settings: LlamaSettings,
  freeBytes: number,
  flavour: ServerFlavour = 'llama-server',
): { plan: FitPlan | null; budgetBytes: number; advice: FitSuggestion[] } {
  const budgetBytes = freeBytes - (settings.fitTargetBytes ?? DEFAULT_FIT_TARGET_BYTES);
  const estimate = estimator.estimate(settings);
  if (estimate.kind !== 'estimate') return { plan: null, budgetBytes, advice: [] };
  const plan = planFit(estimator, settings, estimate, freeBytes);
  // The advice is for the command line as written: what --fit would shrink is shown in the plan.
  const asWritten: FitPlan = { estimate, settings, note: null, takesAllFree: false };
  return { plan, budgetBytes, advice: fitAdvice(estimator, asWritten, budgetBytes, flavour) };
}
