/**
 * Fault matrix: `-ts`/`--tensor-split` and `-sm`/`--split-mode` values llama.cpp's parser refuses
 * (common/arg.cpp): the arguments are refused naming the flag, never sized as one device.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLlamaServerArgs } from '../../src/core/estimate/server-args.ts';

const error = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseLlamaServerArgs(argv, env);
  assert.equal(r.ok, false, 'refused');
  return r.ok ? '' : r.error;
};

test('-ts 3,x (a proportion that is not a number) → the arguments are refused, naming the flag', () => {
  assert.match(error(['-ts', '3,x']), /-ts needs proportions like 3,1, not "3,x"/);
});

test('-ts with 16 proportions (llama.cpp takes at most 15) → refused, naming the limit', () => {
  assert.match(error(['--tensor-split', Array(16).fill('1').join(',')]), /--tensor-split gives 16 proportions; llama\.cpp takes at most 15/);
});

test('LLAMA_ARG_SPLIT_MODE=rows (not a split mode) → refused, naming the variable and the modes', () => {
  assert.match(error([], { LLAMA_ARG_SPLIT_MODE: 'rows' }), /environment variable LLAMA_ARG_SPLIT_MODE must be none, layer, row or tensor, not "rows"/);
});
