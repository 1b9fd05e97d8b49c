/**
 * Small shape-only models of the architectures whose compute buffer the estimate sizes layer by layer
 * (dense, mixture of experts, gated delta net, Mamba 2), written with the tensors llama.cpp v0.5.0's
 * loaders ask for and no vocabulary (`tokenizer.ggml.model = no_vocab`), and llama.cpp's own
 * reservation of their graph: `llama-fit-params -v` of the CPU build prints "CPU compute buffer size".
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { LLAMA_SETUP_HINT, llamaPaths } from '../../scripts/llama/paths.ts';
import { MiB } from '../../src/core/units.ts';
import { T, type FixtureSpec, type FixtureTensor } from './gguf-fixtures.ts';

export const FIT_PARAMS = join(llamaPaths.build, 'server-cpu', 'bin', 'llama-fit-params');

type Add = (name: string, shape: number[], type?: number) => void;

function model(arch: string, embd: number, vocab: number, metadata: Record<string, number | number[]>, layers: (add: Add) => void): FixtureSpec {
  const tensors: FixtureTensor[] = [];
  const add: Add = (name, shape, type) => tensors.push({ name, shape, type: type ?? (shape.length === 1 ? T.F32 : T.Q8_0) });
  add('token_embd.weight', [embd, vocab]);
  add('output_norm.weight', [embd]);
  add('output.weight', [embd, vocab]);
  layers(add);
  const md: FixtureSpec['metadata'] = { 'general.architecture': arch, 'general.name': `${arch} reserve probe`, 'tokenizer.ggml.model': 'no_vocab' };
  md[`${arch}.embedding_length`] = embd;
  md[`${arch}.vocab_size`] = vocab;
  md[`${arch}.context_length`] = 32768;
  md[`${arch}.attention.layer_norm_rms_epsilon`] = 1e-6;
  for (const [k, v] of Object.entries(metadata)) md[`${arch}.${k}`] = v;
  return { metadata: md, tensors };
}

/** Qwen3-style dense layers (q/k norms, SwiGLU) or, with `experts`, Qwen3-MoE layers. */
export function qwen3Model(o: {
  layers: number;
  embd: number;
  heads: number;
  kvHeads: number;
  ff: number;
  experts?: { count: number; used: number; ff: number };
}): FixtureSpec {
  const hd = 128;
  const arch = o.experts ? 'qwen3moe' : 'qwen3';
  const md: Record<string, number> = {
    block_count: o.layers,
    feed_forward_length: o.ff,
    'attention.head_count': o.heads,
    'attention.head_count_kv': o.kvHeads,
    'attention.key_length': hd,
    'attention.value_length': hd,
  };
  if (o.experts) Object.assign(md, { expert_count: o.experts.count, expert_used_count: o.experts.used, expert_feed_forward_length: o.experts.ff });
  return model(arch, o.embd, 4096, md, (add) => {
    for (let i = 0; i < o.layers; i++) {
      const b = `blk.${i}.`;
      add(`${b}attn_norm.weight`, [o.embd]);
      add(`${b}attn_q.weight`, [o.embd, o.heads * hd]);
      add(`${b}attn_k.weight`, [o.embd, o.kvHeads * hd]);
      add(`${b}attn_v.weight`, [o.embd, o.kvHeads * hd]);
      add(`${b}attn_output.weight`, [o.heads * hd, o.embd]);
      add(`${b}attn_q_norm.weight`, [hd]);
      add(`${b}attn_k_norm.weight`, [hd]);
      add(`${b}ffn_norm.weight`, [o.embd]);
      if (o.experts) {
        const { count, ff } = o.experts;
        add(`${b}ffn_gate_inp.weight`, [o.embd, count]);
        add(`${b}ffn_gate_exps.weight`, [o.embd, ff, count]);
        add(`${b}ffn_up_exps.weight`, [o.embd, ff, count]);
        add(`${b}ffn_down_exps.weight`, [ff, o.embd, count]);
      } else {
        add(`${b}ffn_gate.weight`, [o.embd, o.ff]);
        add(`${b}ffn_up.weight`, [o.embd, o.ff]);
        add(`${b}ffn_down.weight`, [o.ff, o.embd]);
      }
    }
  });
}

/** Qwen3.5 (dense): three gated-delta-net layers to one attention layer (src/models/qwen35.cpp). */
export function qwen35Model(o: { layers: number; embd: number; state: number; groups: number; rank: number }): FixtureSpec {
  const hd = 256;
  const heads = 16;
  const keyDim = o.state * o.groups;
  const valueDim = o.state * o.rank;
  const convDim = 2 * keyDim + valueDim;
  const md = {
    block_count: o.layers,
    feed_forward_length: 512,
    'attention.head_count': heads,
    'attention.head_count_kv': 2,
    'attention.key_length': hd,
    'attention.value_length': hd,
    'rope.dimension_sections': [11, 11, 10, 0],
    'rope.dimension_count': 64,
    'ssm.conv_kernel': 4,
    'ssm.inner_size': valueDim,
    'ssm.state_size': o.state,
    'ssm.time_step_rank': o.rank,
    'ssm.group_count': o.groups,
    full_attention_interval: 4,
  };
  return model('qwen35', o.embd, 4096, md, (add) => {
    for (let i = 0; i < o.layers; i++) {
      const b = `blk.${i}.`;
      add(`${b}attn_norm.weight`, [o.embd]);
      add(`${b}post_attention_norm.weight`, [o.embd]);
      if ((i + 1) % 4 === 0) {
        add(`${b}attn_q.weight`, [o.embd, hd * heads * 2]);
        add(`${b}attn_k.weight`, [o.embd, hd * 2]);
        add(`${b}attn_v.weight`, [o.embd, hd * 2]);
        add(`${b}attn_output.weight`, [hd * heads, o.embd]);
        add(`${b}attn_q_norm.weight`, [hd]);
        add(`${b}attn_k_norm.weight`, [hd]);
      } else {
        add(`${b}attn_qkv.weight`, [o.embd, convDim]);
        add(`${b}attn_gate.weight`, [o.embd, valueDim]);
        add(`${b}ssm_conv1d.weight`, [4, convDim], T.F32);
        add(`${b}ssm_dt.bias`, [o.rank]);
        add(`${b}ssm_a`, [o.rank]);
        add(`${b}ssm_beta.weight`, [o.embd, o.rank]);
        add(`${b}ssm_alpha.weight`, [o.embd, o.rank]);
        add(`${b}ssm_norm.weight`, [o.state]);
        add(`${b}ssm_out.weight`, [valueDim, o.embd]);
      }
      add(`${b}ffn_gate.weight`, [o.embd, 512]);
      add(`${b}ffn_up.weight`, [o.embd, 512]);
      add(`${b}ffn_down.weight`, [512, o.embd]);
    }
  });
}

/** Mamba 2 (src/models/mamba2.cpp): z|xBC|dt projection, convolution over xBC, grouped norm. */
export function mamba2Model(o: { layers: number; embd: number; inner: number; state: number; groups: number; heads: number }): FixtureSpec {
  const conv = o.inner + 2 * o.groups * o.state;
  const md = {
    block_count: o.layers,
    'ssm.conv_kernel': 4,
    'ssm.inner_size': o.inner,
    'ssm.state_size': o.state,
    'ssm.time_step_rank': o.heads,
    'ssm.group_count': o.groups,
  };
  return model('mamba2', o.embd, 4096, md, (add) => {
    for (let i = 0; i < o.layers; i++) {
      const b = `blk.${i}.`;
      add(`${b}attn_norm.weight`, [o.embd]);
      add(`${b}ssm_in.weight`, [o.embd, o.inner + conv + o.heads]);
      add(`${b}ssm_conv1d.weight`, [4, conv], T.F32);
      add(`${b}ssm_conv1d.bias`, [conv]);
      add(`${b}ssm_dt.bias`, [o.heads]);
      add(`${b}ssm_a`, [1, o.heads], T.F32);
      add(`${b}ssm_d`, [1, o.heads], T.F32);
      add(`${b}ssm_norm.weight`, [o.inner / o.groups, o.groups], T.F32);
      add(`${b}ssm_out.weight`, [o.inner, o.embd]);
    }
  });
}

/** The compute buffer llama.cpp reserves for `modelPath` with `args`, in bytes, from its own log line. */
export async function llamaReservedCompute(modelPath: string, args: string[]): Promise<number> {
  await access(FIT_PARAMS).catch(() => {
    throw new Error(`${FIT_PARAMS} is missing: build llama.cpp's CPU tools (${LLAMA_SETUP_HINT}, then cmake -DGGML_CUDA=OFF into build/server-cpu)`);
  });
  const binDir = join(FIT_PARAMS, '..');
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn(FIT_PARAMS, ['-m', modelPath, ...args, '-v'], {
      env: { ...process.env, LD_LIBRARY_PATH: binDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', () => resolve(err));
  });
  const m = /CPU compute buffer size =\s+([\d.]+) MiB/.exec(stderr);
  if (!m) throw new Error(`llama-fit-params printed no compute buffer:\n${stderr.slice(-2000)}`);
  return Number(m[1]) * MiB;
}
