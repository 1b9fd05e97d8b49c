/**
 * A real tokenizer for generated GGUF models, so the real llama.cpp loads them: a SentencePiece
 * ("llama") vocabulary of the control tokens, the 256 byte tokens (`<0x00>` … `<0xFF>`, which let
 * SentencePiece encode any text) and, up to the model's vocabulary size, plain pieces.
 */
import { GGUFValueType } from '@huggingface/gguf';
import type { FixtureValue } from './gguf-fixtures.ts';

/** llama.cpp's token attributes as GGUF stores them (`llama_token_type`). */
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 } as const;

/** The metadata of a SentencePiece vocabulary of `size` tokens (at least 259). */
export function spmByteVocab(size: number): Record<string, FixtureValue> {
  if (!Number.isInteger(size) || size < 259) throw new Error(`a byte vocabulary needs at least 259 tokens, not ${size}`);
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.BYTE);
  }
  for (let i = tokens.length; i < size; i++) {
    tokens.push(`▁piece${i}`);
    types.push(TOKEN_TYPE.NORMAL);
  }
  const scores = tokens.map((_, i) => -i);
  return {
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.scores': { value: scores, type: GGUFValueType.ARRAY, subType: GGUFValueType.FLOAT32 },
    'tokenizer.ggml.token_type': { value: types, type: GGUFValueType.ARRAY, subType: GGUFValueType.INT32 },
    'tokenizer.ggml.unknown_token_id': 0,
    'tokenizer.ggml.bos_token_id': 1,
    'tokenizer.ggml.eos_token_id': 2,
    'tokenizer.ggml.add_bos_token': true,
  };
}
