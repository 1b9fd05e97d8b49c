/**
 * Runs the audio tools (pactl, parec, pw-play, ...) with execa: argument arrays, a timeout, a kill
 * when the timeout or a cancellation comes, and a clear error when the tool is not installed.
 */
import type { Readable } from 'node:stream';
import { execa } from 'execa';

/** The Debian package that provides each tool, for "install ..." advice. */
export const toolPackages: Readonly<Record<string, string>> = {
  pactl: 'pulseaudio-utils',
  parec: 'pulseaudio-utils',
  pacat: 'pulseaudio-utils',
  'pw-record': 'pipewire-bin',
  'pw-play': 'pipewire-bin',
  'pw-link': 'pipewire-bin',
  'pw-dump': 'pipewire-bin',
  pipewire: 'pipewire-bin',
  'pipewire-pulse': 'pipewire-pulse',
  wireplumber: 'wireplumber',
  'dbus-daemon': 'dbus',
};

/** A tool could not be started because it is not installed (or not on PATH). */
export class ToolMissingError extends Error {
  readonly tool: string;
  readonly debianPackage: string;
  constructor(tool: string) {
    const pkg = toolPackages[tool] ?? tool;
    super(`"${tool}" is not installed (or not on PATH). Install it, e.g. on Debian/Ubuntu: sudo apt-get install ${pkg}`);
    this.name = 'ToolMissingError';
    this.tool = tool;
    this.debianPackage = pkg;
  }
}

export interface ToolOptions {
  /** Environment for the tool (PULSE_SERVER, XDG_RUNTIME_DIR, ...); the process's own when absent. */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds before the tool is stopped (SIGTERM, then SIGKILL one second later). */
  timeoutMs: number;
  /** Stops the tool when aborted. */
  signal?: AbortSignal;
}

export interface ToolResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  canceled: boolean;
}

/** Options every tool runs with: the given environment only, in the C locale, timed out and killable. */
function baseOptions(options: ToolOptions) {
  return {
    env: withCLocale(options.env),
    extendEnv: false,
    timeout: options.timeoutMs,
    forceKillAfterDelay: 1000,
    ...(options.signal ? { cancelSignal: options.signal } : {}),
    reject: false as const,
    stdin: 'ignore' as const,
  };
}

/** Parsing depends on English messages and "." as the decimal separator: the tools run in the C locale. */
function withCLocale(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return { ...(env ?? process.env), LC_ALL: 'C' };
}

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}

/** Runs a tool to completion and returns its text output; throws ToolMissingError when it is not installed. */
export async function runTool(tool: string, args: readonly string[], options: ToolOptions): Promise<ToolResult> {
  const result = await execa(tool, args, baseOptions(options));
  if (result.failed && isMissing(result.cause ?? result)) throw new ToolMissingError(tool);
  if (result.failed && result.exitCode === undefined && !result.timedOut && !result.isCanceled) {
    // Could not be started for another reason (permissions, ...).
    throw new Error(`"${tool}" could not be started: ${result.shortMessage}`);
  }
  return {
    exitCode: result.exitCode,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    timedOut: result.timedOut,
    canceled: result.isCanceled,
  };
}

/** A tool that streams (a recorder); the caller reads `process.stdout` and stops it. */
export interface StreamingTool {
  /** The tool's standard output (raw bytes). */
  stdout: Readable;
  /** Resolves once the tool has exited (any way); never rejects. */
  exited: Promise<{ exitCode: number | undefined; stderr: string; missing: boolean }>;
  /** Stops the tool (SIGTERM, then SIGKILL after one second). */
  stop(): void;
}

/** Starts a tool whose stdout is a byte stream; never throws for a missing tool (see `exited`). */
export function startStreamingTool(tool: string, args: readonly string[], options: ToolOptions): StreamingTool {
  const child = execa(tool, args, {
    ...baseOptions(options),
    encoding: 'buffer',
    buffer: false,
    stderr: 'pipe',
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4000) stderr += chunk.toString('utf8');
  });
  let done = false;
  const exited = child.then(
    (r) => ({ exitCode: r.exitCode, stderr, missing: r.failed && isMissing(r.cause ?? r) }),
    (e: unknown) => ({ exitCode: undefined, stderr, missing: isMissing(e) }),
  );
  void exited.then(() => {
    done = true;
  });
  return {
    stdout: child.stdout,
    exited,
    stop() {
      if (!done) child.kill('SIGTERM');
    },
  };
}
