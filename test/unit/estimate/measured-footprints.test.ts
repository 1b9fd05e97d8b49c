/** Measured footprints: keyed by the file's identity and the settings, capped, replaced atomically. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_LLAMA_SETTINGS } from '../../../src/core/estimate/llama-settings.ts';
import { footprintKey, FootprintStore, MAX_FOOTPRINTS, modelIdentity } from '../../../src/core/estimate/measured-footprints.ts';
import { LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';
import { runLockChild } from '../../helpers/lock-children.ts';

describe('measured footprints', () => {
  it('the key changes with the file (mtime, header) and with any setting that changes memory', async () => {
    const path = await writeGguf('footprint-key', LLAMA_32_3B, { sparse: true });
    const id = (await modelIdentity(path))!;
    const k = footprintKey(id, { ...DEFAULT_LLAMA_SETTINGS, contextTokens: 4096 });
    assert.equal(k, footprintKey({ ...id }, { ...DEFAULT_LLAMA_SETTINGS, contextTokens: 4096 }), 'same file and settings, same key');
    assert.notEqual(k, footprintKey(id, { ...DEFAULT_LLAMA_SETTINGS, contextTokens: 8192 }));
    assert.notEqual(k, footprintKey(id, { ...DEFAULT_LLAMA_SETTINGS, contextTokens: 4096, cacheTypeK: 'q8_0' }));
    await utimes(path, new Date(), new Date(Date.now() + 5000));
    const touched = (await modelIdentity(path))!;
    assert.notEqual(footprintKey(touched, { ...DEFAULT_LLAMA_SETTINGS, contextTokens: 4096 }), k, 'a changed file falls back to the estimate');
    assert.equal(await modelIdentity('/nonexistent.gguf'), null);
  });

  it('keeps the newest entries up to the cap, one per key, in a file it replaces whole', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-footprints-'));
    const store = new FootprintStore(dir);
    const key = (i: number) => i.toString(16).padStart(64, '0');
    for (let i = 0; i < MAX_FOOTPRINTS + 5; i++)
      await store.record({
        key: key(i),
        modelPath: '/m.gguf',
        measuredBytes: 1000 + i,
        estimateBytes: 900,
        measuredAt: new Date().toISOString(),
        settings: '-c 4096',
      });
    await store.record({
      key: key(MAX_FOOTPRINTS + 4),
      modelPath: '/m.gguf',
      measuredBytes: 7,
      estimateBytes: null,
      measuredAt: new Date().toISOString(),
      settings: '',
    });
    const all = await store.entries();
    assert.equal(all.length, MAX_FOOTPRINTS);
    assert.equal(await store.get(key(0)), null, 'the oldest went first');
    assert.equal((await store.get(key(MAX_FOOTPRINTS + 4)))!.measuredBytes, 7, 'one entry per key, the latest');
    assert.equal(JSON.parse(await readFile(store.path, 'utf8')).version, 1);
  });

  it('drops malformed entries with a log line and keeps the valid ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-footprints-'));
    const logs: string[] = [];
    const store = new FootprintStore(dir, (m) => logs.push(m));
    await store.record({ key: 'a'.repeat(64), modelPath: '/m.gguf', measuredBytes: 5, estimateBytes: 4, measuredAt: new Date().toISOString(), settings: '' });
    const { writeFile } = await import('node:fs/promises');
    const data = JSON.parse(await readFile(store.path, 'utf8'));
    data.footprints.push({ key: 'not-a-key', measuredBytes: -1 });
    await writeFile(store.path, JSON.stringify(data));
    assert.equal((await store.entries()).length, 1);
    assert.match(logs.join('\n'), /1 malformed entry .* ignored/);
  });

  it('four processes recording at once (a window each, and the CLI) keep every measurement', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vram-guard-footprints-'));
    await Promise.all(['a', 'b', 'c', 'd'].map((tag) => runLockChild(['footprint', dir, '20', tag])));
    const paths = (await new FootprintStore(dir).entries()).map((e) => e.modelPath).sort();
    assert.equal(paths.length, 80, 'none lost');
    assert.deepEqual(paths, ['a', 'b', 'c', 'd'].flatMap((tag) => Array.from({ length: 20 }, (_, i) => `/models/${tag}-${i}.gguf`)).sort());
  });
});

it('a key stored before multi-token prediction and -ts were settings still matches while they are unset', () => {
  // The key this identity and llama.cpp's default settings had before those settings existed.
  const before = '8a29809b91f212935afd36f4de1f2e9fa6b658b154b3132cb91dcfc9ef70cf68';
  const id = { path: '/a', size: 1, mtimeMs: 2 } as unknown as Parameters<typeof footprintKey>[0];
  assert.equal(footprintKey(id, DEFAULT_LLAMA_SETTINGS), before);
  assert.notEqual(footprintKey(id, { ...DEFAULT_LLAMA_SETTINGS, tensorSplit: [1, 1] }), before);
});
