/**
 * The VRAM gate through the full pre-flight: the task's `needs` (or a GGUF estimate of its `model`
 * at the context it will run with) against free VRAM plus margin, the level it would reach,
 * residual memory, persistence mode. Pre-flight `fail` refuses the start.
 */
import { DEFAULT_CONTEXT, DEFAULT_KV_CACHE_TYPE, DEFAULT_PARALLEL, estimateGgufFile } from '../checks/gguf-estimate.ts';
import { runPreflight, type PreflightNeed } from '../checks/preflight.ts';
import type { SizeSpec } from '../units.ts';
import type { ThresholdSpec } from '../watch/thresholds.ts';
import { summarize, type VramGate } from './vram-gate.ts';

export interface PreflightGateSettings {
  margin: SizeSpec;
  residualThreshold: SizeSpec;
  thresholds: ThresholdSpec;
  platform?: NodeJS.Platform;
  /** PIDs of the tasks VRAM Guard tracks, so the pre-flight can name the processes no task owns. */
  ownedPids?: ReadonlySet<number>;
}

export function preflightGate(settings: () => PreflightGateSettings): VramGate {
  return async (input) => {
    const s = settings();
    let need: PreflightNeed = { kind: 'none' };
    if (input.needsBytes !== null) need = { kind: 'size', bytes: input.needsBytes, from: 'task' };
    else if (input.modelPath) {
      need = {
        kind: 'estimate',
        estimate: await estimateGgufFile(input.modelPath, { contextLength: input.contextLength ?? DEFAULT_CONTEXT, parallel: DEFAULT_PARALLEL, kvCacheType: DEFAULT_KV_CACHE_TYPE }),
      };
    }
    const report = runPreflight(input.reading, {
      gpu: input.gpu,
      need,
      margin: s.margin,
      residualThreshold: s.residualThreshold,
      thresholds: s.thresholds,
      platform: s.platform ?? process.platform,
      strict: false,
      ownedPids: s.ownedPids,
    });
    const expectedBytes = need.kind === 'size' ? need.bytes : need.kind === 'estimate' && need.estimate.ok ? need.estimate.totalBytes : null;
    return { ...summarize(input.taskName, report.checks), expectedBytes };
  };
}
