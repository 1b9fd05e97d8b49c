/**
 * A llama-server command line (and the `LLAMA_ARG_*` environment variables llama.cpp reads) as
 * the settings that change its memory. One parser for the VRAM gate of a task, the pre-flight's
 * `--args "…"` and the budget spike. Names, aliases and environment variables follow llama.cpp's
 * common/arg.cpp: the environment is applied first and the command line overrides it, `--long_name`
 * is read as `--long-name`, and `--opt=value` works as `--opt value`. Flags that do not change
 * memory are skipped (with their value, when the next item is not a flag). A value llama.cpp would
 * refuse is an error naming the flag, never a silent default.
 */
import { DEFAULT_LLAMA_SETTINGS, KV_CACHE_TYPES, type FlashAttentionMode, type KvCacheType, type LlamaSettings } from './llama-settings.ts';
import { GiB, MiB } from '../units.ts';

export interface ParsedServerArgs {
  settings: LlamaSettings;
  /** `-m`/`--model` (or `LLAMA_ARG_MODEL`); null when not given. */
  modelPath: string | null;
  /** `-hf`/`--hf-repo`: the model comes from Hugging Face's cache, not a path given here. */
  hfRepo: string | null;
  /** The flags and variables that set something, in order, for "assumed" lines: "-c 8192", "LLAMA_ARG_FLASH_ATTN=on". */
  given: string[];
}

export type ServerArgsResult = ({ ok: true } & ParsedServerArgs) | { ok: false; error: string };

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer U)[] ? U[] : T[K] };
type Draft = NonNullable<LlamaSettings['draft']>;
interface State {
  s: Mutable<LlamaSettings>;
  model: string | null;
  hf: string | null;
  draft: Omit<Mutable<Draft>, 'modelPath'> & { modelPath: string | null };
  /** The `--spec-type` names given, in order (llama.cpp adds each list to the ones before). */
  specTypes: string[];
}

/** llama.cpp's LLAMA_MAX_DEVICES (src/llama.cpp `llama_max_devices`): `-ts` takes fewer proportions than this. */
const MAX_DEVICES = 16;

/** llama.cpp's speculative decoding types (common/speculative.cpp `common_speculative_type_from_name_map`). */
const SPEC_TYPES = [
  'none',
  'draft-simple',
  'draft-eagle3',
  'draft-mtp',
  'draft-dflash',
  'draft-dspark',
  'ngram-simple',
  'ngram-map-k',
  'ngram-map-k4v',
  'ngram-mod',
  'ngram-cache',
];

class ArgError extends Error {}

/** How llama.cpp reads booleans (common_arg_utils::is_truthy / is_falsey / is_autoy). */
const TRUTHY = ['on', 'enabled', 'true', '1'];
const FALSEY = ['off', 'disabled', 'false', '0'];
const AUTOY = ['auto', '-1'];

function whole(flag: string, value: string, min: number, max = 16_777_216): number {
  if (!/^-?\d+$/.test(value.trim())) throw new ArgError(`${flag} needs a whole number, not "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new ArgError(`${flag} must be from ${min} to ${max}, not ${n}`);
  return n;
}

function kvType(flag: string, value: string): KvCacheType {
  const v = value.trim().toLowerCase();
  if (!(KV_CACHE_TYPES as readonly string[]).includes(v)) throw new ArgError(`${flag} must be one of ${KV_CACHE_TYPES.join(', ')}, not "${value}"`);
  return v as KvCacheType;
}

function gpuLayers(flag: string, value: string): number | 'all' | null {
  const v = value.trim().toLowerCase();
  if (v === 'auto') return null;
  if (v === 'all') return 'all';
  const n = whole(flag, v, -1_000_000, 1_000_000);
  // llama.cpp: -1 is auto, -2 and below all layers.
  return n === -1 ? null : n <= -2 ? 'all' : n;
}

function onOff(flag: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (TRUTHY.includes(v)) return true;
  if (FALSEY.includes(v)) return false;
  throw new ArgError(`${flag} must be on or off, not "${value}"`);
}

function flashAttention(flag: string, value: string): FlashAttentionMode {
  const v = value.trim().toLowerCase();
  if (TRUTHY.includes(v)) return 'on';
  if (FALSEY.includes(v)) return 'off';
  if (AUTOY.includes(v)) return 'auto';
  throw new ArgError(`${flag} must be on, off or auto, not "${value}"`);
}

/** `-ot PATTERN=BUFFER,...`: the patterns whose buffer is the CPU (CPU, CPU_Mapped, ...). */
function cpuOverrides(flag: string, value: string): string[] {
  const out: string[] = [];
  for (const item of value.split(',')) {
    if (!item.trim()) continue;
    const eq = item.lastIndexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new ArgError(`${flag} needs PATTERN=BUFFER (for example "exps=CPU"), not "${item}"`);
    const pattern = item.slice(0, eq);
    try {
      new RegExp(pattern);
    } catch {
      throw new ArgError(`${flag}: "${pattern}" is not a valid regular expression`);
    }
    if (/^cpu/i.test(item.slice(eq + 1).trim())) out.push(pattern);
  }
  return out;
}

/** `--fit-target MiB[,MiB...]` (one per device): the first device's, in bytes. */
function fitTarget(flag: string, value: string): number {
  const first = value.split(',')[0] ?? '';
  return whole(flag, first, 0, (1024 * GiB) / MiB) * MiB;
}

interface Option {
  names: readonly string[];
  /** Names that set the option to false (`--no-mmproj-offload`). */
  negative?: readonly string[];
  env?: string;
  /** Takes a value; otherwise it is a switch. */
  value: boolean;
  apply: (st: State, value: string, flag: string) => void;
}

const OPTIONS: readonly Option[] = [
  {
    names: ['-m', '--model'],
    env: 'LLAMA_ARG_MODEL',
    value: true,
    apply: (st, v) => {
      st.model = v;
    },
  },
  {
    names: ['-hf', '-hfr', '--hf-repo'],
    env: 'LLAMA_ARG_HF_REPO',
    value: true,
    apply: (st, v) => {
      st.hf = v;
    },
  },
  {
    names: ['-c', '--ctx-size'],
    env: 'LLAMA_ARG_CTX_SIZE',
    value: true,
    apply: (st, v, f) => {
      st.s.contextTokens = whole(f, v, 0);
    },
  },
  {
    names: ['-np', '--parallel'],
    env: 'LLAMA_ARG_N_PARALLEL',
    value: true,
    apply: (st, v, f) => {
      const n = whole(f, v, -1, 4096);
      if (n === 0) throw new ArgError(`${f} must be at least 1 (or -1 for auto), not 0`);
      st.s.parallel = n === -1 ? null : n;
    },
  },
  {
    names: ['-kvu', '--kv-unified'],
    negative: ['-no-kvu', '--no-kv-unified'],
    env: 'LLAMA_ARG_KV_UNIFIED',
    value: false,
    apply: (st, v) => {
      st.s.kvUnified = v === 'true';
    },
  },
  {
    names: ['-fa', '--flash-attn'],
    env: 'LLAMA_ARG_FLASH_ATTN',
    value: true,
    apply: (st, v, f) => {
      st.s.flashAttention = flashAttention(f, v);
    },
  },
  {
    names: ['-ctk', '--cache-type-k'],
    env: 'LLAMA_ARG_CACHE_TYPE_K',
    value: true,
    apply: (st, v, f) => {
      st.s.cacheTypeK = kvType(f, v);
    },
  },
  {
    names: ['-ctv', '--cache-type-v'],
    env: 'LLAMA_ARG_CACHE_TYPE_V',
    value: true,
    apply: (st, v, f) => {
      st.s.cacheTypeV = kvType(f, v);
    },
  },
  {
    names: ['-b', '--batch-size'],
    env: 'LLAMA_ARG_BATCH',
    value: true,
    apply: (st, v, f) => {
      st.s.batchTokens = whole(f, v, 1);
    },
  },
  {
    names: ['-ub', '--ubatch-size'],
    env: 'LLAMA_ARG_UBATCH',
    value: true,
    apply: (st, v, f) => {
      st.s.ubatchTokens = whole(f, v, 1);
    },
  },
  {
    names: ['-ngl', '--gpu-layers', '--n-gpu-layers'],
    env: 'LLAMA_ARG_N_GPU_LAYERS',
    value: true,
    apply: (st, v, f) => {
      st.s.gpuLayers = gpuLayers(f, v);
    },
  },
  {
    names: ['-ts', '--tensor-split'],
    env: 'LLAMA_ARG_TENSOR_SPLIT',
    value: true,
    apply: (st, v, f) => {
      // llama.cpp splits on runs of ',' and '/' and reads each part with std::stof.
      const parts = v.split(/[,/]+/);
      const shares = parts.map((p) => Number.parseFloat(p));
      if (shares.some((x, i) => !Number.isFinite(x) || x < 0 || !/^\s*[+]?(\d+\.?\d*|\.\d+)/.test(parts[i] ?? '')))
        throw new ArgError(`${f} needs proportions like 3,1, not "${v}"`);
      if (shares.length >= MAX_DEVICES) throw new ArgError(`${f} gives ${shares.length} proportions; llama.cpp takes at most ${MAX_DEVICES - 1}`);
      st.s.tensorSplit = shares.every((x) => x === 0) ? null : shares;
    },
  },
  {
    names: ['-sm', '--split-mode'],
    env: 'LLAMA_ARG_SPLIT_MODE',
    value: true,
    apply: (st, v, f) => {
      if (v !== 'none' && v !== 'layer' && v !== 'row' && v !== 'tensor') throw new ArgError(`${f} must be none, layer, row or tensor, not "${v}"`);
      st.s.splitMode = v;
    },
  },
  {
    names: ['-ncmoe', '--n-cpu-moe'],
    env: 'LLAMA_ARG_N_CPU_MOE',
    value: true,
    apply: (st, v, f) => {
      st.s.cpuMoeLayers = whole(f, v, 0, 100_000);
    },
  },
  {
    names: ['-cmoe', '--cpu-moe'],
    env: 'LLAMA_ARG_CPU_MOE',
    value: false,
    apply: (st, v) => {
      st.s.cpuMoeAll = v === 'true';
    },
  },
  { names: ['-ot', '--override-tensor'], value: true, apply: (st, v, f) => void st.s.cpuTensorPatterns.push(...cpuOverrides(f, v)) },
  {
    names: ['-mm', '--mmproj'],
    env: 'LLAMA_ARG_MMPROJ',
    value: true,
    apply: (st, v) => {
      st.s.projectorPath = v || null;
    },
  },
  {
    names: ['--mmproj-auto'],
    negative: ['--no-mmproj', '--no-mmproj-auto'],
    env: 'LLAMA_ARG_MMPROJ_AUTO',
    value: false,
    apply: (st, v) => {
      if (v === 'false') st.s.projectorPath = null;
    },
  },
  {
    names: ['--mmproj-offload'],
    negative: ['--no-mmproj-offload'],
    env: 'LLAMA_ARG_MMPROJ_OFFLOAD',
    value: false,
    apply: (st, v) => {
      st.s.projectorOffload = v === 'true';
    },
  },
  {
    names: ['--swa-full'],
    env: 'LLAMA_ARG_SWA_FULL',
    value: false,
    apply: (st, v) => {
      st.s.swaFull = v === 'true';
    },
  },
  {
    // No environment variable in llama.cpp's parser.
    names: ['--op-offload'],
    negative: ['--no-op-offload'],
    value: false,
    apply: (st, v) => {
      st.s.opOffload = v === 'true';
    },
  },
  {
    names: ['-fit', '--fit'],
    env: 'LLAMA_ARG_FIT',
    value: true,
    apply: (st, v, f) => {
      st.s.fit = onOff(f, v);
    },
  },
  {
    names: ['-fitt', '--fit-target'],
    env: 'LLAMA_ARG_FIT_TARGET',
    value: true,
    apply: (st, v, f) => {
      st.s.fitTargetBytes = fitTarget(f, v);
    },
  },
  {
    names: ['-md', '--model-draft'],
    env: 'LLAMA_ARG_MODEL_DRAFT',
    value: true,
    apply: (st, v) => {
      st.draft.modelPath = v || null;
    },
  },
  {
    names: ['-ngld', '--gpu-layers-draft', '--n-gpu-layers-draft'],
    env: 'LLAMA_ARG_N_GPU_LAYERS_DRAFT',
    value: true,
    apply: (st, v, f) => {
      st.draft.gpuLayers = gpuLayers(f, v);
    },
  },
  {
    names: ['-cd', '--ctx-size-draft'],
    env: 'LLAMA_ARG_CTX_SIZE_DRAFT',
    value: true,
    apply: (st, v, f) => {
      st.draft.contextTokens = whole(f, v, 0);
    },
  },
  {
    names: ['-ctkd', '--cache-type-k-draft'],
    env: 'LLAMA_ARG_CACHE_TYPE_K_DRAFT',
    value: true,
    apply: (st, v, f) => {
      st.draft.cacheTypeK = kvType(f, v);
    },
  },
  {
    names: ['--spec-type'],
    env: 'LLAMA_ARG_SPEC_TYPE',
    value: true,
    apply: (st, v, f) => {
      for (const t of v.split(',')) {
        // llama.cpp looks each name up as written (no spaces trimmed).
        if (!SPEC_TYPES.includes(t)) throw new ArgError(`${f} must be a comma-separated list of ${SPEC_TYPES.join(', ')}, not "${v}"`);
        st.specTypes.push(t);
      }
    },
  },
  {
    names: ['-ctvd', '--cache-type-v-draft'],
    env: 'LLAMA_ARG_CACHE_TYPE_V_DRAFT',
    value: true,
    apply: (st, v, f) => {
      st.draft.cacheTypeV = kvType(f, v);
    },
  },
];

const BY_NAME = new Map<string, { option: Option; positive: boolean }>();
for (const option of OPTIONS) {
  for (const n of option.names) BY_NAME.set(n, { option, positive: true });
  for (const n of option.negative ?? []) BY_NAME.set(n, { option, positive: false });
}

/** The names the parser knows, for help texts. */
export const MEMORY_FLAGS: readonly string[] = OPTIONS.flatMap((o) => o.names.slice(0, 1));

/** The option a flag names (any of its spellings): all its names, and whether it takes a value; null when unknown. */
export function optionOf(flag: string): { names: readonly string[]; value: boolean } | null {
  const o = OPTIONS.find((x) => x.names.includes(flag) || x.negative?.includes(flag));
  return o ? { names: [...o.names, ...(o.negative ?? [])], value: o.value } : null;
}

const looksLikeFlag = (s: string | undefined) => s !== undefined && /^-[^\d.]/.test(s) && s !== '-';

/**
 * Parses llama-server's arguments (without the program itself) and its environment into the
 * settings that change memory. `env` is the task's environment (only `LLAMA_ARG_*` are read).
 */
export function parseLlamaServerArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ServerArgsResult {
  const st: State = {
    s: { ...DEFAULT_LLAMA_SETTINGS, cpuTensorPatterns: [] } as Mutable<LlamaSettings>,
    model: null,
    hf: null,
    draft: { modelPath: null, gpuLayers: null, contextTokens: null, cacheTypeK: null, cacheTypeV: null },
    specTypes: [],
  };
  const given: string[] = [];
  try {
    for (const option of OPTIONS) {
      const envName = option.env;
      const raw = envName ? env[envName] : undefined;
      if (envName === undefined || raw === undefined) continue;
      try {
        if (option.value) option.apply(st, raw, envName);
        else {
          // llama.cpp: a switch's variable turns it on when truthy; a negatable one reads on/off.
          const v = raw.trim().toLowerCase();
          if (option.negative) option.apply(st, String(onOff(envName, raw)), envName);
          else if (TRUTHY.includes(v)) option.apply(st, 'true', envName);
          else if (!FALSEY.includes(v)) throw new ArgError(`${envName} must be on or off, not "${raw}"`);
        }
      } catch (err) {
        if (err instanceof ArgError) throw new ArgError(`environment variable ${err.message}`);
        throw err;
      }
      given.push(`${envName}=${raw}`);
    }
    for (let i = 0; i < argv.length; i++) {
      const item = argv[i];
      if (item === undefined) break;
      let name = item;
      let inline: string | undefined;
      if (item.startsWith('--')) {
        const eq = item.indexOf('=');
        if (eq > 0) {
          name = item.slice(0, eq);
          inline = item.slice(eq + 1);
        }
        name = name.replace(/_/g, '-');
      }
      const known = BY_NAME.get(name);
      if (!known) {
        // Not a memory setting: skip it, and its value when one follows.
        if (looksLikeFlag(item) && inline === undefined && argv[i + 1] !== undefined && !looksLikeFlag(argv[i + 1])) i++;
        continue;
      }
      const { option, positive } = known;
      if (!option.value) {
        if (inline !== undefined) throw new ArgError(`${name} takes no value, but "${item}" gives one`);
        option.apply(st, positive ? 'true' : 'false', name);
        given.push(name);
        continue;
      }
      let value = inline;
      if (value === undefined) {
        const next = argv[i + 1];
        if (option.names.includes('-fa') && (next === undefined || (looksLikeFlag(next) && !AUTOY.includes(next)))) {
          // Older llama.cpp: a bare -fa / --flash-attn switched it on.
          st.s.flashAttention = 'on';
          given.push(name);
          continue;
        }
        if (next === undefined) throw new ArgError(`${name} needs a value, but it is the last argument`);
        value = next;
        i++;
      }
      option.apply(st, value, name);
      given.push(`${name} ${value}`);
    }
  } catch (err) {
    if (err instanceof ArgError) return { ok: false, error: `The llama-server arguments cannot be read: ${err.message}.` };
    throw err;
  }
  const d = st.draft;
  st.s.draft = d.modelPath
    ? { modelPath: d.modelPath, gpuLayers: d.gpuLayers, contextTokens: d.contextTokens, cacheTypeK: d.cacheTypeK, cacheTypeV: d.cacheTypeV }
    : null;
  st.s.mtp = st.specTypes.includes('draft-mtp') ? { cacheTypeK: d.cacheTypeK, cacheTypeV: d.cacheTypeV } : null;
  return { ok: true, settings: st.s as LlamaSettings, modelPath: st.model, hfRepo: st.hf, given };
}

/**
 * Splits a command line given as one string (`--args "-c 8192 -fa on"`) into arguments, the way a
 * POSIX shell splits words but without running one: spaces separate, single quotes keep
 * everything, double quotes keep all but `\"` and `\\`, a backslash outside quotes keeps the next
 * character. Nothing is expanded. Unclosed quotes are an error.
 */
export function splitCommandLine(text: string): { ok: true; args: string[] } | { ok: false; error: string } {
  const args: string[] = [];
  let current = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { ok: false, error: `unclosed single quote at character ${i + 1} of "${text.slice(0, 200)}"` };
      current += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && (text[j + 1] === '"' || text[j + 1] === '\\')) j++;
        current += text[j];
      }
      if (j >= text.length) return { ok: false, error: `unclosed double quote at character ${i + 1} of "${text.slice(0, 200)}"` };
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) args.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) args.push(current);
  return { ok: true, args };
}
