/**
 * Picks the GPU source: walks the registry (NVML, else nvidia-smi, else none) — with the reasons,
 * never a throw. A source `auto` skips (`replay`, a recorded trace) is opened only when named.
 */
import { sourcesFor, type ProbeSourceOptions, type SourcePreference } from './source-registry.ts';
import type { GpuSource } from './types.ts';

export type ProbeOptions = ProbeSourceOptions & {
  preference: SourcePreference;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
  /** Ends a probe in flight (the watcher stopped): an NVML worker still starting is killed. */
  signal?: AbortSignal | undefined;
};

export type ProbeResult = { ok: true; source: GpuSource } | { ok: false; reason: string };

export async function probeSource(options: ProbeOptions): Promise<ProbeResult> {
  const log = options.log ?? (() => {});
  const context = { env: options.env ?? process.env, log, signal: options.signal };
  const reasons: string[] = [];
  for (const entry of sourcesFor(options.preference)) {
    const opened = await entry.open(options, context);
    if (opened.ok) return opened;
    reasons.push(`no ${entry.label}: ${opened.reason}`);
    log(`${entry.label} unavailable: ${opened.reason}`);
    if (options.signal?.aborted) break;
  }
  return { ok: false, reason: reasons.join('; ') };
}
