/**
 * The name of the Ollama model whose weights are a blob: an Ollama runner is started with
 * `--model <models>/blobs/sha256-<hex>`, and the manifests beside the blobs
 * (`<models>/manifests/<host>/<namespace>/<model>/<tag>`) say which model has that layer. Read
 * bounded (at most 2,000 manifests of at most 1 MiB each); null when none names it or the store
 * cannot be read (another user's, as for a system service).
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OLLAMA_MODEL_MEDIA } from '../../estimate/ollama-model.ts';
import { readBounded } from './proc-facts.ts';
import { MiB } from '../../units.ts';

const MAX_MANIFESTS = 2000;
const MAX_MANIFEST_BYTES = MiB;

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** "llama3.2:3b" for the library, "namespace/model:tag" elsewhere on the registry, "host/namespace/model:tag" for other hosts. */
export function ollamaModelName(host: string, namespace: string, model: string, tag: string): string {
  if (host === 'registry.ollama.ai') return namespace === 'library' ? `${model}:${tag}` : `${namespace}/${model}:${tag}`;
  return `${host}/${namespace}/${model}:${tag}`;
}

export async function ollamaBlobName(blobPath: string): Promise<string | null> {
  const m = /^(.*)\/blobs\/sha256-([0-9a-f]{64})$/.exec(blobPath);
  if (!m) return null;
  const digest = `sha256:${m[2]}`;
  const manifests = join(dirname(join(m[1] ?? '', 'blobs')), 'manifests');
  let seen = 0;
  for (const host of await list(manifests))
    for (const namespace of await list(join(manifests, host)))
      for (const model of await list(join(manifests, host, namespace)))
        for (const tag of await list(join(manifests, host, namespace, model))) {
          if (++seen > MAX_MANIFESTS) return null;
          try {
            const data = JSON.parse(await readBounded(join(manifests, host, namespace, model, tag), MAX_MANIFEST_BYTES)) as { layers?: unknown };
            const layers = Array.isArray(data.layers) ? (data.layers as { mediaType?: unknown; digest?: unknown }[]) : [];
            if (layers.some((l) => l?.mediaType === OLLAMA_MODEL_MEDIA && l.digest === digest)) return ollamaModelName(host, namespace, model, tag);
          } catch {
            // not a manifest
          }
        }
  return null;
}
