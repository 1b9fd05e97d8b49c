/**
 * Ollama tasks: the model's GGUF blob found through Ollama's store on disk (manifests → blobs, laid
 * out as Ollama's manifest/paths.go and types/model/name.go write them), and the settings Ollama
 * passes to llama-server, from its environment (envconfig/config.go, server/routes.go,
 * llm/llama_server.go).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { findOllamaModel, ollamaManifestPath } from '../../../src/core/estimate/ollama-model.ts';
import { isEstimator, openModelEstimator } from '../../../src/core/estimate/model-estimator.ts';
import { resolveModelNeed } from '../../../src/core/estimate/server-need.ts';
import { GiB } from '../../helpers/fake-nvml.ts';
import { LLAMA_32_3B, writeGguf } from '../../helpers/gguf-fixtures.ts';
import { loadTruthCases, printedBytes } from '../../helpers/truth-set.ts';

let store: string;

async function blob(content: Buffer | string, from?: string): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  const path = join(store, 'blobs', digest.replace(':', '-'));
  if (from)
    await link(from, path); // the same (sparse) file, not a copy
  else await writeFile(path, content);
  return digest;
}

async function manifest(name: string[], layers: { mediaType: string; digest: string }[]): Promise<void> {
  const dir = join(store, 'manifests', ...name.slice(0, -1));
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, name.at(-1)!),
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', layers: layers.map((l) => ({ ...l, size: 1 })) }),
  );
}

before(async () => {
  store = await mkdtemp(join(tmpdir(), 'vram-guard-ollama-store-'));
  await mkdir(join(store, 'blobs'), { recursive: true });
  const gguf = await writeGguf('ollama-llama3.2-3b', LLAMA_32_3B, { sparse: true });
  const model = await blob(`model ${gguf}`, gguf);
  await manifest(['registry.ollama.ai', 'library', 'llama3.2', '3b'], [{ mediaType: 'application/vnd.ollama.image.model', digest: model }]);
  const params = await blob(JSON.stringify({ num_ctx: 16384, stop: ['<|eot_id|>'] }));
  await manifest(
    ['registry.ollama.ai', 'me', 'llama-long', 'latest'],
    [
      { mediaType: 'application/vnd.ollama.image.model', digest: model },
      { mediaType: 'application/vnd.ollama.image.params', digest: params },
    ],
  );
  await manifest(['registry.ollama.ai', 'library', 'broken', 'latest'], [{ mediaType: 'application/vnd.ollama.image.license', digest: params }]);
});

const ollama = async (model: string, env: Record<string, string>, totalVramBytes: number | null = 8 * GiB) => {
  const r = await resolveModelNeed({ server: 'ollama', args: [], env: { OLLAMA_MODELS: store, ...env }, cwd: null, model, from: 'x', totalVramBytes });
  if (!r.ok) assert.fail(r.error);
  return r.need;
};

describe('Ollama models', () => {
  it('names map to manifests as Ollama lays them out', () => {
    assert.equal(ollamaManifestPath('llama3.2:3b', '/m'), '/m/manifests/registry.ollama.ai/library/llama3.2/3b');
    assert.equal(ollamaManifestPath('qwen3', '/m'), '/m/manifests/registry.ollama.ai/library/qwen3/latest');
    assert.equal(ollamaManifestPath('me/mine:q4', '/m'), '/m/manifests/registry.ollama.ai/me/mine/q4');
    assert.equal(ollamaManifestPath('hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M', '/m'), '/m/manifests/hf.co/bartowski/Qwen3-8B-GGUF/Q4_K_M');
    assert.equal(ollamaManifestPath('../../etc/passwd', '/m'), null);
  });

  it("finds the GGUF blob and estimates it with Ollama's defaults: 4096 tokens on an 8 GiB GPU, 1 slot, flash attention auto", async () => {
    const need = await ollama('llama3.2:3b', {});
    assert.match(need.modelPath, /blobs\/sha256-[0-9a-f]{64}$/);
    assert.equal(need.settings.contextTokens, 4096);
    assert.equal(need.settings.parallel, 1);
    assert.equal(need.settings.kvUnified, false);
    assert.equal(need.settings.flashAttention, 'auto');
    assert.equal(need.settings.cacheTypeK, null);
    assert.equal(need.estimate.kind, 'estimate');
    assert.deepEqual(need.notes, ["context 4096: Ollama's default for 8 GiB of VRAM (set OLLAMA_CONTEXT_LENGTH to choose)"]);
  });

  it("Ollama's runner keeps logits for every token of the micro-batch: Llama 3.2 3B at 4096 tokens, flash attention off, takes the 256.50 MiB of compute buffer a published Jetson log prints", async () => {
    // test/fixtures/estimate-truth/llama32-3b-ollama-jetson-4k.json: "CUDA0 compute buffer size = 256.50 MiB".
    const c = (await loadTruthCases()).find((x) => x.id === 'llama32-3b-ollama-jetson-4k')!;
    const printed = printedBytes(c.printed, 'compute')!;
    const need = await ollama('llama3.2:3b', { OLLAMA_FLASH_ATTENTION: '0' });
    assert.equal(need.estimate.kind, 'estimate');
    if (need.estimate.kind !== 'estimate') return;
    assert.equal(need.estimate.assumptions.flashAttention, 'off');
    assert.equal(need.estimate.parts.computeBufferBytes, printed);
    // llama-server at the same settings reserves one row per slot: the logits of 511 tokens fewer.
    const plain = await openModelEstimator(need.modelPath);
    assert.ok(isEstimator(plain));
    const server = plain.estimate({ ...need.settings, flashAttention: 'off' });
    assert.ok(server.kind === 'estimate' && server.parts.computeBufferBytes < printed);
  });

  it("larger GPUs get 32768 (from 23 GiB) and 262144 (from 47 GiB), capped at the model's training context", async () => {
    assert.equal((await ollama('llama3.2:3b', {}, 24 * GiB)).settings.contextTokens, 32768);
    const big = await ollama('llama3.2:3b', {}, 48 * GiB);
    assert.equal(big.settings.contextTokens, 131072, 'Llama 3.2 was trained for 131072 tokens');
    assert.ok(big.notes.includes("capped at the model's training context, 131072 tokens"));
    assert.equal(
      (await ollama('llama3.2:3b', { OLLAMA_GPU_OVERHEAD: String(2 * GiB) }, 24 * GiB)).settings.contextTokens,
      4096,
      'the overhead is taken off first',
    );
  });

  it('reads OLLAMA_CONTEXT_LENGTH, OLLAMA_NUM_PARALLEL, OLLAMA_FLASH_ATTENTION and OLLAMA_KV_CACHE_TYPE as llama-server gets them', async () => {
    const need = await ollama('llama3.2:3b', {
      OLLAMA_CONTEXT_LENGTH: '8192',
      OLLAMA_NUM_PARALLEL: '2',
      OLLAMA_FLASH_ATTENTION: '1',
      OLLAMA_KV_CACHE_TYPE: 'q8_0',
    });
    assert.equal(need.settings.contextTokens, 16384, '-c num_ctx × parallel');
    assert.equal(need.settings.parallel, 2);
    assert.equal(need.settings.flashAttention, 'on');
    assert.equal(need.settings.cacheTypeK, 'q8_0');
    assert.equal(need.settings.cacheTypeV, 'q8_0');
    assert.equal((await ollama('llama3.2:3b', { OLLAMA_FLASH_ATTENTION: 'false' })).settings.flashAttention, 'off');
  });

  it("the model's own num_ctx wins over OLLAMA_CONTEXT_LENGTH", async () => {
    const need = await ollama('me/llama-long', { OLLAMA_CONTEXT_LENGTH: '8192' });
    assert.equal(need.settings.contextTokens, 16384);
    assert.deepEqual(need.notes, ["context 16384: the model's num_ctx parameter"]);
  });

  it('says what is wrong: a model not pulled, a manifest without a model layer, bad variables', async () => {
    const err = async (model: string, env: Record<string, string> = {}) => {
      const r = await resolveModelNeed({
        server: 'ollama',
        args: [],
        env: { OLLAMA_MODELS: store, ...env },
        cwd: null,
        model,
        from: 'x',
        totalVramBytes: 8 * GiB,
      });
      assert.equal(r.ok, false);
      return (r as { error: string }).error;
    };
    assert.match(await err('qwen3:8b'), /Ollama's store has no model "qwen3:8b".*ollama pull qwen3:8b/);
    assert.match(await err('broken'), /names no GGUF model layer/);
    assert.match(await err('llama3.2:3b', { OLLAMA_KV_CACHE_TYPE: 'q3_k' }), /OLLAMA_KV_CACHE_TYPE must be one of f32, f16/);
    assert.match(await err('llama3.2:3b', { OLLAMA_FLASH_ATTENTION: 'yes please' }), /OLLAMA_FLASH_ATTENTION must be true or false/);
    assert.match(await err('llama3.2:3b', { OLLAMA_CONTEXT_LENGTH: '8k' }), /OLLAMA_CONTEXT_LENGTH must be a whole number, not "8k"/);
    const found = await findOllamaModel('llama3.2:3b', { OLLAMA_MODELS: store });
    assert.ok(found.ok);
  });
});
