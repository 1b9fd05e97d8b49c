/**
 * The estimate of each server a spike starts, from its own command line (llama-server) or Ollama's
 * environment and model, with the parser and the sizing the VRAM gate uses, at the free memory the
 * spike found at its start: shown beside what the spike then measures.
 */
import type { GpuSample } from '../gpu/types.ts';
import { planFit } from '../estimate/fit-advice.ts';
import { modelNeedFor } from './preflight-gate.ts';
import type { SpikeServer } from './spike-spec.ts';
import { errorMessage } from '../errors.ts';

export type SpikeEstimate = { bytes: number; note: string | null } | { bytes: null; note: string } | null;

/** Null when the server names no model to size; a note when it does but cannot be sized. */
export async function estimateSpikeServer(server: SpikeServer, sample: GpuSample, gpu: number, env: NodeJS.ProcessEnv = process.env): Promise<SpikeEstimate> {
  const [, ...fixed] = server.task.command;
  try {
    const r = await modelNeedFor(
      {
        taskName: server.name,
        gpu,
        reading: { ok: true, sample, description: "the spike's first sample" },
        needsBytes: null,
        modelPath: server.task.model,
        contextLength: null,
        run: { server: server.task.server, args: [...fixed, ...server.task.args], env: server.task.env, cwd: server.task.cwd },
      },
      { env },
      "the server's arguments",
    );
    if (r?.need.kind !== 'model') return null;
    const need = r.need.need;
    if (!need.estimator || need.estimate.kind !== 'estimate')
      return { bytes: null, note: need.estimate.kind === 'none' ? need.estimate.reason : 'no estimate' };
    const free = sample.devices.find((d) => d.index === gpu)?.memory?.free ?? null;
    const plan = planFit(need.estimator, need.settings, need.estimate, free);
    return { bytes: plan.estimate.totalBytes, note: plan.note };
  } catch (err) {
    return { bytes: null, note: errorMessage(err) };
  }
}
