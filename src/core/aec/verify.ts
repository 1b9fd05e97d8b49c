/**
 * The echo-cancellation verification: runs the checks in order and collects them in a report.
 * When the machine has no PipeWire the report holds one "not available here" result.
 */
import { worstStatus, type CheckResult, type CheckStatus } from '../check-result.ts';
import { defaultAudioFormat, type AudioFormat } from './audio-format.ts';
import { ToolMissingError } from './tools.ts';
import { checkEcho, checkModule, checkRecording, checkServer, checkSource, type CheckContext } from './checks.ts';

export const defaultSourceName = 'Echo Cancellation Source';
export const defaultRecordSeconds = 1;
export const defaultEchoSeconds = 5;

export interface AecOptions {
  sourceName?: string;
  format?: AudioFormat;
  recordSeconds?: number;
  /** Also play test noise and measure how much echo is removed. */
  echoTest?: boolean;
  echoSeconds?: number;
  /** Environment the audio tools run in (it locates the sound server). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  platform?: NodeJS.Platform;
  /** Called before each step with a short description, e.g. "Recording 1 s from ...". */
  onProgress?: (message: string) => void;
  /** Problems found in the settings; shown in the report (the defaults were used for them). */
  settingsProblems?: string[];
}

export interface AecReport {
  kind: 'vram-guard/aec-report';
  version: 1;
  createdAt: string;
  /** False when the check cannot be made here (not Linux, no PipeWire). */
  available: boolean;
  /** Worst status among the checks. */
  status: CheckStatus;
  sourceName: string;
  format: AudioFormat;
  recordSeconds: number;
  echoTest: boolean;
  pipewireVersion: string | null;
  settingsProblems: string[];
  checks: CheckResult[];
}

export async function verifyEchoCancellation(options: AecOptions = {}): Promise<AecReport> {
  const sourceName = options.sourceName ?? defaultSourceName;
  const format = options.format ?? defaultAudioFormat;
  const recordSeconds = options.recordSeconds ?? defaultRecordSeconds;
  const echoTest = options.echoTest === true;
  const ctx: CheckContext = { env: options.env ?? process.env, ...(options.signal ? { signal: options.signal } : {}) };
  const progress = options.onProgress ?? (() => undefined);
  const checks: CheckResult[] = [];
  const report = (pipewireVersion: string | null): AecReport => ({
    kind: 'vram-guard/aec-report',
    version: 1,
    createdAt: new Date().toISOString(),
    available: !checks.some((c) => c.status === 'unavailable'),
    status: worstStatus(checks),
    sourceName,
    format,
    recordSeconds,
    echoTest,
    pipewireVersion,
    settingsProblems: options.settingsProblems ?? [],
    checks,
  });

  progress('Asking the sound server');
  const server = await checkServer(ctx, options.platform ?? process.platform);
  checks.push(server.result);
  if (server.server === null) return report(null);

  progress('Looking for the echo-cancel module');
  const module = await checkModule(ctx, sourceName);
  checks.push(module.result);

  progress(`Looking for the source "${sourceName}"`);
  const source = await checkSource(ctx, sourceName, module.module, server.server);
  checks.push(source.result);

  progress(`Recording ${recordSeconds} s from "${sourceName}"`);
  try {
    checks.push(await checkRecording(ctx, sourceName, format, recordSeconds));
  } catch (e) {
    if (!(e instanceof ToolMissingError)) throw e;
    checks.push({
      id: 'aec.recording',
      title: `Recording ${recordSeconds} s`,
      status: 'fail',
      detail: `Not run: ${e.message}`,
      advice: `sudo apt-get install ${e.debianPackage}`,
    });
  }

  if (echoTest) {
    const seconds = options.echoSeconds ?? defaultEchoSeconds;
    progress(`Echo test: playing ${seconds} s of noise on the default output`);
    checks.push(await checkEcho(ctx, sourceName, source.source, source.sources, module.module, format, seconds));
  }
  return report(server.server.pipewireVersion);
}
