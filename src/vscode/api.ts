/**
 * What the extension exports from `activate`: the state that the status bar shows, for tests and
 * for other extensions. Plain data only.
 */
import type { GpuSample, SourceKind } from '../core/gpu/types.ts';
import type { LedgerView } from '../core/servers/ledger-view.ts';
import type { ServerView } from '../core/servers/server-view.ts';
import type { Level } from '../core/watch/levels.ts';

export interface ExtensionState {
  /** The source being sampled, or null while probing or when there is none. */
  source: { kind: SourceKind; description: string } | null;
  /** Why there is no source ("no NVML: ...; nvidia-smi: ..."); null when there is one. */
  noSourceReason: string | null;
  /** The latest sample; null before the first one. */
  sample: GpuSample | null;
  /** Level per device, in the order of `sample.devices`. */
  levels: Level[];
  /** Problems found in the settings, one sentence each; the defaults are used for those settings. */
  settingsProblems: string[];
  /** The status bar item's text as shown, e.g. "$(chip) 5.3/8.0 GiB". */
  statusBarText: string;
  /** Milliseconds `activate` took. */
  activationMs: number;
  /** The status bar tooltip's fleet line ("fleet: 3 hosts, 7 GPUs, 1 CRITICAL"); null without a fleet source. */
  fleetLine: string | null;
}

export type { LedgerGpuView, LedgerOwnerView, LedgerProcessView, LedgerView } from '../core/servers/ledger-view.ts';
export type { ServerView } from '../core/servers/server-view.ts';

export interface VramGuardApi {
  getState(): ExtensionState;
  /**
   * The VRAM ledger of the latest sample: per GPU, memory per task or server (with its PIDs and what
   * the server reports), other processes, and the residual. No GPUs before the first sample.
   */
  ledger(): Promise<LedgerView>;
  /** The model servers of `vram-guard` tasks (every state) and those a budget spike left running. */
  servers(): ServerView[];
  /** The launcher integrated terminals and tasks run as `vram-guard`, once written; null when `vramGuard.terminal.cli` is off. */
  cliLauncher(): Promise<string | null>;
  /** Resolves with the state once a sample newer than `afterTimestamp` (or a no-source verdict) exists. */
  waitForState(predicate: (state: ExtensionState) => boolean, timeoutMs: number): Promise<ExtensionState>;
}
