/**
 * Faults in GGUF files, as the estimate reads them: each gives "no estimate" with a sentence that
 * says what is wrong, reads no more than the file holds, and never throws.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { test } from 'node:test';
import { readGgufModel } from '../../src/core/estimate/gguf-model.ts';
import { RawGguf, writeGguf, writeRawGguf, LLAMA_32_3B } from '../helpers/gguf-fixtures.ts';
import { ggufBytes } from '../helpers/gguf-fixtures.ts';

/** Reads the model and checks the process kept its memory: a claimed count must not be allocated. */
async function readBounded(path: string) {
  const before = process.memoryUsage().rss;
  const result = await readGgufModel(path);
  const grownMiB = (process.memoryUsage().rss - before) / 1024 / 1024;
  const size = await stat(path).then(
    (s) => s.size,
    () => 0,
  );
  assert.ok(grownMiB < 64, `reading a ${size}-byte file grew the process by ${grownMiB.toFixed(0)} MiB`);
  return result;
}

function expectNone(result: Awaited<ReturnType<typeof readGgufModel>>, pattern: RegExp): string {
  assert.equal(result.kind, 'none', 'a faulty file must give no estimate');
  if (result.kind !== 'none') throw new Error('unreachable');
  assert.match(result.reason, pattern);
  return result.reason;
}

/** A small llama header whose block_count is whatever the test says. */
function llamaWithBlockCount(blockCount: (g: RawGguf) => RawGguf): Buffer {
  const g = new RawGguf().header(0, 5).kvString('general.architecture', 'llama');
  blockCount(g);
  return g.kvU32('llama.context_length', 4096).kvU32('llama.embedding_length', 4096).kvU32('llama.attention.head_count', 32).bytes();
}

test('a file that is not GGUF → "not a GGUF file", quoting how it starts; no estimate', async () => {
  const path = await writeRawGguf('not-gguf', Buffer.from('PK\u0003\u0004 this is a zip archive, not a model'.padEnd(64, ' ')));
  const reason = expectNone(await readBounded(path), /is not a GGUF file: it starts with "PK/);
  assert.ok(reason.includes(path));
});

test('a GGUF file cut short inside its header → says where the file ends (an incomplete download); no estimate', async () => {
  const whole = await ggufBytes(LLAMA_32_3B);
  const path = await writeRawGguf('truncated', whole.subarray(0, Math.floor(whole.length / 2)));
  expectNone(await readBounded(path), /this header is not plausible: .*(the file ends|only \d+ (bytes )?are left)/);
});

test('block_count 2^32−1 in a 279-byte file → "not plausible": llama.cpp loads at most 512 layers; nothing allocated per claimed layer', async () => {
  const bytes = llamaWithBlockCount((g) => g.kvU32('llama.block_count', 0xffffffff));
  const padded = Buffer.concat([bytes, Buffer.alloc(Math.max(0, 279 - bytes.length))]);
  assert.equal(padded.length, 279);
  const path = await writeRawGguf('block-count-u32-max', padded);
  expectNone(await readBounded(path), /not plausible: llama\.block_count is 4294967295; llama\.cpp loads at most 512 layers/);
});

test('block_count 2^53 → "not plausible", the number quoted; no estimate, no exception', async () => {
  const path = await writeRawGguf(
    'block-count-2-53',
    llamaWithBlockCount((g) => g.kvU64('llama.block_count', 2n ** 53n)),
  );
  expectNone(await readBounded(path), /not plausible: llama\.block_count is 9007199254740992/);
});

test('a string claiming 2^60 bytes → "not plausible": the claimed length against the bytes left; nothing allocated', async () => {
  const g = new RawGguf()
    .header(0, 1)
    .str('general.architecture')
    .u32(8)
    .u64(2n ** 60n)
    .raw('llama');
  const path = await writeRawGguf('huge-string', g.bytes());
  expectNone(await readBounded(path), /not plausible: the value of "general\.architecture" claims to be over 2\^53 bytes long but only 5 bytes are left/);
});

test('a tensor count of 2^40 → "not plausible": at most 100000 tensors are read; no estimate', async () => {
  const path = await writeRawGguf('huge-tensor-count', new RawGguf().header(2n ** 40n, 0).bytes());
  expectNone(await readBounded(path), /not plausible: it claims 1099511627776 tensors \(at most 100000 are read\)/);
});

test('a tensor count the file has no room for → "not plausible": the bytes it would need against the file; no estimate', async () => {
  const path = await writeRawGguf('tensor-count-past-end', new RawGguf().header(5000, 0).bytes());
  expectNone(await readBounded(path), /not plausible: it claims 0 metadata entries and 5000 tensors, which need at least 120000 bytes/);
});

test('a head-count array longer than the file → "not plausible": the claimed items against the bytes left; nothing allocated', async () => {
  const g = new RawGguf()
    .header(0, 3)
    .kvString('general.architecture', 'llama')
    .kvU32('llama.block_count', 32)
    .str('llama.attention.head_count')
    .u32(9) // array
    .u32(4) // of u32
    .u64(2n ** 40n)
    .u32(32);
  const path = await writeRawGguf('head-count-array', g.bytes());
  expectNone(
    await readBounded(path),
    /not plausible: the value of "llama\.attention\.head_count" claims 1099511627776 items \(at least 4 bytes each\) but only 4 bytes are left/,
  );
});

test('a head-count array of the wrong length → "not plausible": values against layers; no estimate', async () => {
  const g = new RawGguf()
    .header(0, 5)
    .kvString('general.architecture', 'llama')
    .kvU32('llama.block_count', 4)
    .kvU32('llama.context_length', 4096)
    .kvU32('llama.embedding_length', 256)
    .str('llama.attention.head_count')
    .u32(9)
    .u32(4)
    .u64(2)
    .u32(8)
    .u32(8);
  const path = await writeRawGguf('head-count-short', g.bytes());
  expectNone(await readBounded(path), /not plausible: llama\.attention\.head_count has 2 values for 4 layers/);
});

test('a tensor whose data lies past the end of the file → "the file is incomplete"; no estimate', async () => {
  const whole = await ggufBytes(LLAMA_32_3B);
  const path = await writeRawGguf('data-past-end', whole);
  expectNone(await readBounded(path), /the data of tensor "[^"]+" .* lies beyond the end of .*: the file is incomplete/);
});

test('a split model with a shard missing → names the missing shard; no estimate', async () => {
  const first = await writeGguf(
    'split-missing-00001-of-00002',
    {
      ...LLAMA_32_3B,
      metadata: {
        ...LLAMA_32_3B.metadata,
        'split.no': { value: 0, type: 2 },
        'split.count': { value: 2, type: 2 },
        'split.tensors.count': { value: LLAMA_32_3B.tensors.length, type: 5 },
      },
    },
    { sparse: true },
  );
  expectNone(await readBounded(first), /shard 2 of 2 of the split model: .*split-missing-00002-of-00002\.gguf could not be read: the file does not exist/);
});

test('a model file that does not exist → "could not be read: the file does not exist"; no estimate', async () => {
  expectNone(await readBounded('/nonexistent/model.gguf'), /\/nonexistent\/model\.gguf could not be read: the file does not exist/);
});

test('metadata keys adding up to more than 64 MiB → "not plausible": the names and values kept are capped; no estimate', async () => {
  const key = 'k'.repeat(60 * 1024);
  const g = new RawGguf().header(0, 1200);
  for (let i = 0; i < 1200; i++) g.str(`${key}${i}`).u32(4).u32(i);
  const path = await writeRawGguf('huge-keys', g.bytes());
  expectNone(await readBounded(path), /not plausible: its names and values take more than 64 MiB/);
});
