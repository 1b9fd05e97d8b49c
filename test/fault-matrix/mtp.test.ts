/**
 * Fault matrix: multi-token prediction asked of llama-server (`--spec-type draft-mtp`) where it
 * cannot be had. A misspelt type is refused by llama.cpp's argument parser, and so by the estimate;
 * a model without NextN layers loads, but llama.cpp refuses the draft context — checked against
 * llama.cpp's own dry run, which stops the same way.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readGgufModel } from '../../src/core/estimate/gguf-model.ts';
import { parseLlamaServerArgs } from '../../src/core/estimate/server-args.ts';
import { estimateVram } from '../../src/core/estimate/vram-estimate.ts';
import { shapePath } from '../helpers/llama-dry-run-matrix.ts';
import { llamaDryRun } from '../helpers/llama-dry-run.ts';
import { SHAPE_MODELS } from '../helpers/llama-shapes/architectures.ts';

test('--spec-type draft-mpt (a misspelt type) → the arguments are refused, naming the flag and the types llama.cpp knows', () => {
  const r = parseLlamaServerArgs(['-c', '4096', '--spec-type', 'draft-mpt']);
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.error, /--spec-type must be a comma-separated list of none, draft-simple, .*draft-mtp.*, not "draft-mpt"/);
});

test('LLAMA_ARG_SPEC_TYPE=draft-mtp, ngram-mod (a space after the comma) → refused as llama.cpp refuses it, naming the variable', () => {
  const r = parseLlamaServerArgs([], { LLAMA_ARG_SPEC_TYPE: 'draft-mtp, ngram-mod' });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.error, /environment variable LLAMA_ARG_SPEC_TYPE must be .*not "draft-mtp, ngram-mod"/);
});

test('--spec-type draft-mtp with a model that has no NextN layers → no estimate, quoting llama.cpp, whose dry run stops the same way', async () => {
  const shape = SHAPE_MODELS.find((s) => s.id === 'deepseek2')!;
  const path = await shapePath(shape);
  const args = ['-c', '4096', '-np', '1', '--spec-type', 'draft-mtp'];
  await assert.rejects(llamaDryRun(path, args), /context type MTP requested but model doesn't contain MTP layers/);
  const parsed = parseLlamaServerArgs(args);
  assert.ok(parsed.ok);
  const model = await readGgufModel(path);
  assert.equal(model.kind, 'model');
  const e = model.kind === 'model' ? estimateVram(model, parsed.settings) : null;
  assert.equal(e?.kind, 'none');
  assert.match(
    e?.kind === 'none' ? e.reason : '',
    /--spec-type draft-mtp needs multi-token-prediction layers .*"context type MTP requested but model doesn't contain MTP layers"/,
  );
});
