/** A simulated GPU that plays a recorded trace: used only when named. */
import { openReplay } from '../replay-source.ts';
import type { GpuSourceEntry } from '../source-entry.ts';

export interface ReplayProbeOptions {
  /** The trace a `replay` source plays. */
  replayFile?: string | undefined;
  /** Trace seconds per second. */
  replaySpeed?: number | undefined;
}

declare module '../types.ts' {
  interface GpuSourceKinds {
    replay: true;
  }
}

export const replay: GpuSourceEntry<'replay', ReplayProbeOptions, 'replayFile' | 'replaySpeed', 'replayFile' | 'replaySpeed'> = {
  kind: 'replay',
  label: 'replay',
  auto: false,
  summary: 'A simulated GPU: replays the recorded trace in `#vramGuard.replayFile#` (for demos and machines without an NVIDIA GPU).',
  settings: {
    replayFile: { type: 'file', default: '', bundled: 'media/traces/a1000-4gb-speech-cascade.jsonl', restricted: true },
    replaySpeed: { type: 'number', default: 1, minimum: 0.01, maximum: 10_000, restricted: false },
  },
  flags: {
    replayFile: { name: 'replay-file', value: 'FILE', type: 'string', required: true, help: 'the trace to play with --source replay (docs/trace-format.md)' },
    replaySpeed: { name: 'replay-speed', value: 'N', type: 'positive number', help: 'trace seconds per second (default 1)' },
  },
  open: (options, { log }) => openReplay({ file: options.replayFile ?? '', speed: options.replaySpeed, log }),
};
